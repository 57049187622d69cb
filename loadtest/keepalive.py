"""``KeepAlive``: many small JSON requests over a few kept-alive HTTP/1.1 connections.

For races driven over HTTP (``loadtest.grouprace``): a general client costs milliseconds of
client CPU per request, which on a shared machine would measure the client, not the server.
It speaks just enough HTTP/1.1 for liveroom's JSON answers (``Content-Length`` bodies).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson


class KeepAlive:
    """``connections`` connections to one server, each used by one request at a time."""

    def __init__(self, host: str, port: int, headers: dict[str, str], connections: int = 32):
        self.host = host
        self.port = port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.size = connections
        self.free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> KeepAlive:
        for _ in range(self.size):
            self.free.put_nowait(await asyncio.open_connection(self.host, self.port))
        return self

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request; ``(status, decoded JSON answer)``, whatever the status."""
        reader, writer = await self.free.get()
        try:
            data = orjson.dumps(body) if body is not None else b""
            writer.write(
                f"{method} {path} HTTP/1.1\r\nHost: race\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n{self.head}\r\n".encode()
                + data
            )
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            return status, orjson.loads(await reader.readexactly(length))
        finally:
            self.free.put_nowait((reader, writer))

    async def close(self) -> None:
        while not self.free.empty():
            _, writer = self.free.get_nowait()
            writer.close()
