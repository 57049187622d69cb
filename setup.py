"""The one compiled part: ``liveroom._sendall``, the fan-out's send loop (see its C source).

Everything else is in pyproject.toml. The extension is optional: where it cannot be built (no C
compiler, a platform without ``sys/socket.h``), the install goes on and the fan-out sends with
the loop's twin in Python (``liveroom/sendall.py``, same arguments and answers).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("liveroom._sendall", sources=["liveroom/_sendall.c"], optional=True),
    ]
)
