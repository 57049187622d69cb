"""WebSocket frames as raw bytes, for tests that must control the wire; the tests' one frame parser.

``tests.liveclient`` (websockets) is the client for everything else. It reads in the background
and sends only valid frames, so it cannot serve a slow-consumer test (a client that truly stops
reading, with a small receive buffer), a frame test (half-written, fragmented or unmasked
frames), or a test that reads a server's frames off a plain socket. Those use this module.
"""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson

from tests.timeouts import scaled

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def split_frame(data: bytes) -> tuple[int, bytes, int] | None:
    """The first frame in ``data`` from a server: (its first byte, that is FIN, RSV bits and
    opcode; its payload; where it ends in ``data``), or None while it is not whole yet."""
    if len(data) < 2:
        return None
    assert not data[1] & 0x80, f"a server frame is never masked: {data[:8]!r}"
    size, head = data[1], 2
    if size == 126:
        size, head = int.from_bytes(data[2:4], "big"), 4
    elif size == 127:
        size, head = int.from_bytes(data[2:10], "big"), 10
    if len(data) < head + size:
        return None
    return data[0], data[head : head + size], head + size


def client_frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True) -> bytes:
    """One client frame; masked, as a client must, unless a test wants it otherwise."""
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    bit = 0x80 if mask else 0
    if size < 126:
        head += bytes([bit | size])
    elif size < 1 << 16:
        head += bytes([bit | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + size.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawSocketClient:
    """Handshake, then nothing: the caller decides when (and whether) to read."""

    def __init__(self, port: int, path: str, rcvbuf: int = 4096, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.decode(errors="replace"))
        self.buffer = b""

    def read_until_close(self, timeout: float) -> tuple[int | None, int]:
        """Read every frame until a close frame or EOF; return (close code, data frames)."""
        frames = 0
        while (frame := self.read_frame(timeout)) is not None:
            opcode, payload = frame
            if opcode == CLOSE:
                return (int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None), frames
            frames += 1
        return None, frames

    def read_frame(self, timeout: float) -> tuple[int, bytes] | None:
        """The next frame (opcode, payload), or None at EOF or when ``timeout`` passes."""
        self.sock.settimeout(timeout)
        while (parsed := split_frame(self.buffer)) is None:
            try:
                chunk = self.sock.recv(1 << 20)
            except (TimeoutError, ConnectionResetError):
                return None
            if not chunk:
                return None
            self.buffer += chunk
        first, payload, end = parsed
        self.buffer = self.buffer[end:]
        return first & 0x0F, payload

    def until_event(
        self, wanted: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Read frames until an event for which ``wanted(event)`` holds; return that event.
        The connection ending, or a Close, first fails the test."""
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            frame = self.read_frame(max(0.01, deadline - time.monotonic()))
            assert frame is not None, "connection ended first"
            opcode, payload = frame
            assert opcode != CLOSE, f"closed: {payload!r}"
            if opcode == TEXT:
                for event in orjson.loads(payload):
                    if wanted(event):
                        return event  # type: ignore[no-any-return]
        raise AssertionError("no such event in time")

    def close(self) -> None:
        self.sock.close()
