"""``DirectOut``: frames sent with ``send(2)`` straight from the hub stay whole and in order when
a socket's kernel buffer fills, and a released socket never writes to its old descriptor.

Real loopback sockets under uvloop; the client end is a plain blocking socket.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
import uvloop

from liveroom.engine.memory import MemoryEngine
from liveroom.hub import Hub, Viewer
from liveroom.protocol import room_event_body
from liveroom.transport import DirectOut
from tests.conftest import make_settings
from tests.timeouts import scaled

TEXT = "x" * 3000  # a few of these fill the small buffers of ``_pair``


class Link:
    """What the hub needs of a session's link, around a real DirectOut."""

    def __init__(self, out: DirectOut) -> None:
        self.out = out

    def send(self, payload: bytes) -> None:
        raise AssertionError("no private frames in this test")

    def close(self, code: int, reason: str = "") -> None:
        raise AssertionError(f"closed with {code} {reason}")


class Accept(asyncio.Protocol):
    def __init__(self, accepted: asyncio.Future[Any]) -> None:
        self.accepted = accepted

    def connection_made(self, transport: Any) -> None:
        self.accepted.set_result(transport)


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(body())


async def _pair() -> tuple[Any, socket.socket, Any]:
    """A uvloop server transport and the blocking client socket at its other end, with
    buffers small enough to fill."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[Any] = loop.create_future()
    server = await loop.create_server(lambda: Accept(accepted), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", port))
    transport = await asyncio.wait_for(accepted, scaled(5))
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    return transport, client, server


def _read_frames(client: socket.socket, events: int, timeout: float) -> list[dict[str, Any]]:
    """Read server WebSocket text frames until ``events`` events arrived; fail on any byte that
    is not part of a whole, well-formed frame."""
    client.settimeout(timeout)
    data = b""
    got: list[dict[str, Any]] = []
    while len(got) < events:
        chunk = client.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
        while len(data) >= 2:
            assert data[0] == 0x81, f"not the start of a text frame: {data[:8]!r}"
            size, head = data[1], 2
            if size == 126:
                size, head = int.from_bytes(data[2:4], "big"), 4
            elif size == 127:
                size, head = int.from_bytes(data[2:10], "big"), 10
            if len(data) < head + size:
                break
            got.extend(orjson.loads(data[head : head + size]))
            data = data[head + size :]
    assert not data, "bytes after the last frame"
    return got


def test_a_full_socket_gets_every_frame_whole_and_in_order() -> None:
    """Flushes outrun a 4 kB receive buffer: the kernel takes part of a frame or none, the
    rest waits in uvloop, and the reader still gets whole frames in offset order."""

    async def body() -> None:
        settings = make_settings(outgoing_soft_kb=100_000, outgoing_hard_kb=1_000_000)
        engine = MemoryEngine(settings)
        await engine.open()
        hub = Hub(engine, settings)
        transport, client, server = await _pair()
        assert DirectOut.fits(transport)
        out = DirectOut(transport)
        room = await hub.room("r1")
        viewer = Viewer(Link(out), "u1")
        hub.join(room, viewer, await engine.head("r1"))
        shorts = DirectOut.shorts
        count = 200
        for n in range(count):
            await engine.publish("r1", room_event_body("comment", text=f"{n} {TEXT}"))
            hub.flush_all()
        assert DirectOut.shorts > shorts, "the kernel never refused a byte: nothing was tested"
        assert out.get_write_buffer_size() > 0
        got = await asyncio.to_thread(_read_frames, client, count, scaled(10))
        assert [e["text"].split()[0] for e in got] == [str(n) for n in range(count)]
        offsets = [e["offset"] for e in got]
        assert offsets == list(range(offsets[0], offsets[0] + count))
        out.release()
        transport.close()
        client.close()
        server.close()
        await engine.close()

    run(body)


def test_writes_between_flushes_queue_behind_a_short_send() -> None:
    """A reply written while part of a frame waits in uvloop goes after it, not into it."""

    async def body() -> None:
        transport, client, server = await _pair()
        out = DirectOut(transport)
        big = b"\x81\x7f" + (1_000_000).to_bytes(8, "big") + b"[" + b" " * 999_998 + b"]"
        small = b"\x81\x02[]"
        out.write(big)  # more than the buffers hold: part goes now, the rest to uvloop
        assert out.get_write_buffer_size() > 0
        out.write(small)  # must not reach the socket before the rest of ``big``
        assert out.get_write_buffer_size() > 0
        client.settimeout(scaled(10))
        data = b""
        while len(data) < len(big) + len(small):
            chunk = await asyncio.to_thread(client.recv, 65536)
            assert chunk
            data += chunk
        assert data == big + small
        out.release()
        transport.close()
        client.close()
        server.close()

    run(body)


def test_a_released_socket_does_not_write_to_its_old_descriptor() -> None:
    """After release (connection lost), ``direct`` fails with EBADF; the transport, which owns
    the descriptor, still writes."""

    async def body() -> None:
        transport, client, server = await _pair()
        out = DirectOut(transport)
        out.release()
        try:
            out.direct(b"\x81\x02[]")
        except OSError as exc:
            assert exc.errno == 9  # EBADF: the socket object no longer holds a descriptor
        else:
            raise AssertionError("a released socket sent")
        transport.write(b"\x81\x02[]")
        client.settimeout(scaled(5))
        assert await asyncio.to_thread(client.recv, 16) == b"\x81\x02[]"
        transport.close()
        client.close()
        server.close()

    run(body)
