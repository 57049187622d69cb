"""A bare WebSocket client over a plain socket, for tests that must control reading.

``websockets`` reads in the background; a slow-consumer test needs a client that truly stops
reading, with a small receive buffer, and reads everything back later.
"""

from __future__ import annotations

import base64
import os
import socket
import struct


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
        self.sock.settimeout(timeout)
        frames = 0
        while True:
            parsed = self._next_frame()
            if parsed is None:
                try:
                    chunk = self.sock.recv(1 << 20)
                except (TimeoutError, ConnectionResetError):
                    return None, frames
                if not chunk:
                    return None, frames
                self.buffer += chunk
                continue
            opcode, payload = parsed
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return code, frames
            frames += 1

    def _next_frame(self) -> tuple[int, bytes] | None:
        buf = self.buffer
        if len(buf) < 2:
            return None
        opcode, length, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                return None
            length, start = struct.unpack("!H", buf[2:4])[0], 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, start = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < start + length:
            return None
        self.buffer = buf[start + length :]
        return opcode, buf[start : start + length]

    @staticmethod
    def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
        """One client frame, masked as a client must."""
        mask = os.urandom(4)
        head = bytes([(0x80 if fin else 0) | opcode])
        size = len(payload)
        if size < 126:
            head += bytes([0x80 | size])
        elif size < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", size)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", size)
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def read_frame(self, timeout: float) -> tuple[int, bytes] | None:
        """The next frame (opcode, payload), or None at EOF or when ``timeout`` passes."""
        self.sock.settimeout(timeout)
        while True:
            parsed = self._next_frame()
            if parsed is not None:
                return parsed
            try:
                chunk = self.sock.recv(1 << 16)
            except (TimeoutError, ConnectionResetError):
                return None
            if not chunk:
                return None
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()
