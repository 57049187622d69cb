"""Packing and sending commands to Redis with less work per call than redis-py.

redis-py's ``pack_command`` sends every argument through ``Encoder.encode`` (a chain of
``isinstance`` checks) and joins the command's whole buffer again for each argument. A comment's
``publish.lua`` call carries 23 arguments and a pulse's call for 100 rooms several hundred, so
on the Redis engine that packing was the largest single cost of a comment and of a pulse (see
BENCHMARKS.md, "The Redis engine's part of a comment"). ``fast_packing`` gives a connection class
whose ``pack_command`` handles the common argument types (bytes, str, int) directly and joins once.
Anything else (floats, memoryviews, bytearrays, subclasses, values redis-py refuses) goes through
redis-py's own encoder, so the bytes on the wire and the errors raised are the same as before:
``tests/engine/test_packing.py`` compares the two. Where the C extension ``liveroom._respack`` was
built, the common case (every argument an exact bytes, str or 64-bit int, the encoding UTF-8 and
strict, as redis-py's default) is packed there in one call, into the same chunks.

The same class sends a command without redis-py's ``asyncio.wait_for`` around each write. On
Python 3.11 that ``wait_for`` is a task and a turn of the loop per command, and it loses a
cancellation that lands in the turn where the write completes (CPython gh-86296): a node's
background loop cancelled at shutdown then carried on, and the process waited to be killed.
Here the command is written at once, and only a write the transport could not take whole
waits, under ``asyncio.timeout`` (which keeps a cancellation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

Pack = Callable[[tuple[Any, ...], int], "list[bytes | memoryview] | None"]
c_pack: Pack | None
try:  # built at install where a compiler was at hand
    from liveroom._respack import pack as c_pack
except ImportError:  # pragma: no cover - not built: the loop in Python below does the same
    c_pack = None


class FastPacking:
    """A mixin for a redis-py asyncio connection class: ``pack_command`` without the per-argument
    encoder call and re-join, and ``send_packed_command`` without a task per write. Large
    arguments and memoryviews still go out as chunks of their own, as redis-py sends them, so a
    big value is not copied into the command's buffer."""

    _buffer_cutoff: int
    encoder: Any
    _writer: asyncio.StreamWriter | None
    socket_timeout: float | None
    health_check_interval: float
    is_connected: bool
    disconnect: Callable[..., Awaitable[None]]

    def pack_command(self, *args: Any) -> list[bytes | memoryview]:
        first = args[0]
        if isinstance(first, str):
            args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        cutoff = self._buffer_cutoff
        encoder = self.encoder
        encoding, errors = encoder.encoding, encoder.encoding_errors
        if c_pack is not None and encoding == "utf-8" and errors == "strict":
            packed = c_pack(args, cutoff)
            if packed is not None:
                return packed
        output: list[bytes | memoryview] = []
        parts: list[bytes] = [b"*%d\r\n" % len(args)]
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

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        """Write ``command``; wait, within ``socket_timeout``, only if it did not all go out.
        A connection still to be made or due a health check goes through redis-py."""
        writer = self._writer
        if writer is None or not self.is_connected or (check_health and self.health_check_interval):
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
            return
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        try:
            writer.writelines(command)
            transport = writer.transport
            if transport.get_write_buffer_size() or transport.is_closing():
                async with asyncio.timeout(self.socket_timeout or None):
                    await writer.drain()
        except TimeoutError:  # before OSError: the builtin TimeoutError is one
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket: {exc}") from exc
        except BaseException:  # cancelled mid-write: the command may be half sent
            await self.disconnect(nowait=True)
            raise


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
