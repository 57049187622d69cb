"""Packing commands into Redis's protocol (RESP) with less work per argument than redis-py.

redis-py's ``pack_command`` sends every argument through ``Encoder.encode`` (a chain of
``isinstance`` checks) and joins the command's whole buffer again for each argument. A comment's
``publish.lua`` call carries 23 arguments and a pulse's call for 100 rooms several hundred, so
on the Redis engine that packing was the largest single cost of a comment and of a pulse (see
BENCHMARKS.md, "The Redis engine's part of a comment"). ``fast_packing`` gives a connection class
whose ``pack_command`` handles the common argument types (bytes, str, int) directly and joins once.
Anything else (floats, memoryviews, bytearrays, subclasses, values redis-py refuses) goes through
redis-py's own encoder, so the bytes on the wire and the errors raised are the same as before:
``tests/engine/test_packing.py`` compares the two.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.connection import AbstractConnection


class FastPacking:
    """A mixin for a redis-py asyncio connection class: ``pack_command`` without the per-argument
    encoder call and re-join. Large arguments and memoryviews still go out as chunks of their
    own, as redis-py sends them, so a big value is not copied into the command's buffer."""

    _buffer_cutoff: int
    encoder: Any

    def pack_command(self, *args: Any) -> list[bytes | memoryview]:
        first = args[0]
        if isinstance(first, str):
            args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        output: list[bytes | memoryview] = []
        parts: list[bytes] = [b"*%d\r\n" % len(args)]
        cutoff = self._buffer_cutoff
        encoder = self.encoder
        encoding, errors = encoder.encoding, encoder.encoding_errors
        for arg in args:
            kind = type(arg)
            if kind is bytes:
                pass
            elif kind is str:
                arg = arg.encode(encoding, errors)
            elif kind is int:
                arg = b"%d" % arg
            else:  # floats, memoryviews, bytearrays, subclasses, and the errors
                arg = encoder.encode(arg)
            size = len(arg)
            if size > cutoff or isinstance(arg, memoryview):
                parts.append(b"$%d\r\n" % size)
                output.append(b"".join(parts))
                output.append(arg)
                parts = [b"\r\n"]
            else:
                parts.append(b"$%d\r\n%b\r\n" % (size, arg))
        output.append(b"".join(parts))
        return output


_made: dict[type, type] = {}


def fast_packing(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """``connection_class`` (redis-py's plain, TLS or Unix socket connection) with
    ``FastPacking``'s ``pack_command``; one class per base, made once."""
    if issubclass(connection_class, FastPacking):
        return connection_class
    made = _made.get(connection_class)
    if made is None:
        made = _made[connection_class] = type(
            f"FastPacking{connection_class.__name__}", (FastPacking, connection_class), {}
        )
    return made
