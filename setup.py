"""The compiled parts: ``liveroom._sendall``, the fan-out's send loop, and ``liveroom._respack``,
the packing of Redis commands (see their C sources).

Everything else is in pyproject.toml. Both extensions are optional: where one cannot be built (no
C compiler, a platform without ``sys/socket.h``), the install goes on and its Python twin runs
instead (``liveroom/sendall.py``; ``FastPacking``'s loop in ``liveroom/engine/packing.py``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("liveroom._sendall", sources=["liveroom/_sendall.c"], optional=True),
        Extension("liveroom._respack", sources=["liveroom/_respack.c"], optional=True),
    ]
)
