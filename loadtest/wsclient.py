"""A minimal WebSocket client for load generation: one ``asyncio.Protocol`` per connection.

It does the least a client must (RFC 6455): an HTTP/1.1 upgrade, frame parsing, masked sends,
pong on ping, and a close reply. No extensions, no text validation, no per-connection task: the
event loop calls ``data_received`` and the parsed payloads go straight to ``on_message``. That
keeps one simulated viewer far cheaper than the server's side of the same connection, so the
generator is not what a run measures.

Server frames are never masked; client frames must be, and this client masks with the key
``00 00 00 00``. The standard requires a mask, not an unpredictable one on loopback; a zero key
leaves the payload unchanged, so sending is a header plus the bytes.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from typing import cast

ZERO_MASK = b"\x00\x00\x00\x00"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_HANDSHAKE = 16384


class HandshakeError(Exception):
    """The server answered the upgrade with something other than ``101``."""


def client_frame(opcode: int, payload: bytes) -> bytes:
    """The bytes of one final, masked (zero key) client frame."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + struct.pack("!H", n)
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + struct.pack("!Q", n)
    return head + ZERO_MASK + payload


class WsClient(asyncio.Protocol):
    """One client connection.

    ``opened`` resolves when the upgrade succeeds (or fails with ``HandshakeError``/``OSError``);
    ``on_message(payload)`` is called with each text or binary message; ``on_close(code)`` once
    when an upgraded connection ends (``code`` is the server's close code, or ``None``).
    """

    __slots__ = (
        "host",
        "target",
        "on_message",
        "on_close",
        "transport",
        "opened",
        "buf",
        "upgraded",
        "parts",
        "closed",
        "close_code",
    )

    def __init__(
        self,
        host: str,
        target: str,
        on_message: Callable[[bytes], None],
        on_close: Callable[[int | None], None],
    ) -> None:
        self.host = host
        self.target = target
        self.on_message = on_message
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.buf = b""
        self.upgraded = False
        self.parts: list[bytes] | None = None
        self.closed = False
        self.close_code: int | None = None

    # ------------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET {self.target} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > MAX_HANDSHAKE:
                    self._fail(HandshakeError("handshake response too large"))
                else:
                    self.buf = data
                return
            status = data[: data.find(b"\r\n")]
            if b" 101 " not in status + b" ":
                self._fail(HandshakeError(status.decode("latin-1", "replace")))
                return
            self.upgraded = True
            if not self.opened.done():
                self.opened.set_result(None)
            data = data[end + 4 :]
        self._frames(data)

    def _frames(self, data: bytes) -> None:
        pos = 0
        size = len(data)
        while size - pos >= 2:
            b0 = data[pos]
            length = data[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > size:
                break
            payload = data[pos + head : end]
            pos = end
            opcode = b0 & 0x0F
            if opcode == OP_TEXT or opcode == OP_BINARY:
                if b0 & 0x80:
                    self.on_message(payload)
                else:
                    self.parts = [payload]
            elif opcode == OP_CONT and self.parts is not None:
                self.parts.append(payload)
                if b0 & 0x80:
                    whole = b"".join(self.parts)
                    self.parts = None
                    self.on_message(whole)
            elif opcode == OP_PING:
                self.send_raw(client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                if len(payload) >= 2:
                    self.close_code = int.from_bytes(payload[:2], "big")
                self.close(1000)
                return
        if pos < size:
            self.buf = data[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionResetError("closed during handshake"))
        self.closed = True
        if self.upgraded:
            self.on_close(self.close_code)

    # ------------------------------------------------------------------ sending

    def send_text(self, payload: bytes) -> bool:
        """Send one text message. False when the connection is no longer open."""
        return self.send_raw(client_frame(OP_TEXT, payload))

    def send_raw(self, wire: bytes) -> bool:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            return False
        transport.write(wire)
        return True

    def close(self, code: int = 1000) -> None:
        """Send a close frame and close the socket; idempotent."""
        if self.closed:
            return
        self.send_raw(client_frame(OP_CLOSE, code.to_bytes(2, "big")))
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        self.abort()


async def connect(
    port: int,
    target: str,
    on_message: Callable[[bytes], None],
    on_close: Callable[[int | None], None],
    timeout: float,
    host: str = "127.0.0.1",
) -> WsClient:
    """Open one connection to ``host:port`` and upgrade it on ``target`` (path and query)."""
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(
        loop.create_connection(
            lambda: WsClient(f"{host}:{port}", target, on_message, on_close), host, port
        ),
        timeout,
    )
    try:
        await asyncio.wait_for(proto.opened, timeout)
    except BaseException:
        proto.abort()
        raise
    return proto
