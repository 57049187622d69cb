"""The fan-out's send loop in Python: the twin of ``liveroom/_sendall.c``.

Same signature, same answers, so that either is a drop-in for the other (as websockets pairs
``utils.apply_mask`` with ``speedups.apply_mask``)::

    try:
        from liveroom._sendall import send_all
    except ImportError:
        from liveroom.sendall import send_all

``liveroom.fanout`` does exactly that; ``--send-loop python`` picks this one on purpose. It
costs the interpreter's work per viewer (a call to ``os.write``, an int object), which the C loop
does not.

One difference the caller must respect: C passes ``MSG_DONTWAIT | MSG_NOSIGNAL`` to each
``send(2)``, and ``write(2)`` has no flags. The descriptors must be in non-blocking mode (uvloop's
sockets are, and ``DirectOut`` sets it), and Python ignores ``SIGPIPE`` already, so a peer that
went away is ``EPIPE`` here too.
"""

from __future__ import annotations

import os
from array import array


def send_all(
    fds: array[int], data: bytes | bytearray | memoryview, /
) -> list[tuple[int, int]] | None:
    """Send ``data`` to every descriptor in ``fds`` (a buffer of C ints: ``array.array("i")``).

    Returns None when every descriptor took all of ``data``. Otherwise a list of (position in
    ``fds``, result) for the others, in order: result >= 0 is the byte count the kernel took (0
    when it would block), result < 0 is -errno of a write that failed. A negative number in
    ``fds`` is a blank slot: reported as -EBADF. The caller owns descriptor lifetimes: a number
    in ``fds`` must still be the connection it was taken from.
    """
    view = memoryview(fds)
    if view.format != "i" or view.ndim != 1:
        raise TypeError("fds must be a buffer of C ints (array.array('i'))")
    size = memoryview(data).nbytes  # TypeError for str, as in C
    write = os.write
    misses: list[tuple[int, int]] | None = None
    # --- once per viewer: one write(2), and a look at what it took. A blank slot (-1) fails
    # with EBADF in the kernel, which costs more than a test here would on every viewer, but
    # blanks are few (a flush past 64 of them and an eighth of the list rebuilds the list).
    for index, fd in enumerate(view):
        try:
            taken = write(fd, data)
        except BlockingIOError:
            taken = 0
        except OSError as exc:
            taken = -(exc.errno or 0)
        if taken != size:
            if misses is None:
                misses = []
            misses.append((index, taken))
    return misses
