"""``DirectOut`` and the room's ``SendList``: frames sent with ``send(2)`` straight from the
fan-out stay whole and in order when a socket's kernel buffer fills, and a released socket never
gets a frame from the send loop through its old descriptor.

Real loopback sockets under uvloop; the client end is a plain blocking socket. The fan-out tests
run with both send loops, the C one and its twin in Python: one data model, one send path.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
import pytest
import uvloop
from prometheus_client import REGISTRY

from liveroom.direct_out import DirectOut
from liveroom.engine.memory import MemoryEngine
from liveroom.fanout import CHECK_EVERY, PayloadOut, SendList
from liveroom.hub import Hub, Viewer
from liveroom.protocol import room_event_body, ws_text_frame
from tests.conftest import make_settings
from tests.timeouts import scaled
from tests.wsraw import split_frame

TEXT = "x" * 3000  # a few of these fill the small buffers of ``_pair``
FILLER = b"\x81\x02[]"  # a whole, empty frame: the reader skips it
BIG = "x" * 150_000  # more than a full ``_pair`` can take, less than a ``_pair(roomy=True)``


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


#: the fan-out's two send loops: C (``liveroom._sendall``) and its twin in Python
LOOPS = pytest.mark.parametrize("send_loop", ["c", "python"])


def _shorts() -> float:
    """Sends the kernel did not take whole, so far in this process (a Prometheus counter)."""
    return REGISTRY.get_sample_value("liveroom_short_sends_total") or 0.0


async def _hub(send_loop: str) -> tuple[Hub, MemoryEngine]:
    settings = make_settings(
        outgoing_soft_kb=100_000, outgoing_hard_kb=1_000_000, send_loop=send_loop
    )
    engine = MemoryEngine(settings)
    await engine.open()
    return Hub(engine, settings), engine


async def _pair(roomy: bool = False) -> tuple[Any, socket.socket, Any]:
    """A uvloop server transport and the blocking client socket at its other end, with
    buffers small enough to fill (about 16 kB to send, 8 kB to receive; ``roomy``: about
    400 kB each, room for a whole ``BIG`` frame)."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[Any] = loop.create_future()
    server = await loop.create_server(lambda: Accept(accepted), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 200_000 if roomy else 4096)
    client.connect(("127.0.0.1", port))
    transport = await asyncio.wait_for(accepted, scaled(5))
    assert DirectOut.fits(transport)
    sndbuf = 200_000 if roomy else 8192  # the kernel doubles both sizes
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    return transport, client, server


def _fill(sock: socket.socket) -> int:
    """Fill ``sock`` behind uvloop's back with whole empty frames until the kernel refuses one;
    returns how many it took. An acknowledgement on its way may still free a little room
    afterwards: a send meant to be cut short must be larger than both buffers of ``_pair``."""
    fills = 0
    while True:
        try:
            assert sock.send(FILLER) == len(FILLER)
        except BlockingIOError:
            return fills
        fills += 1


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The room size at each checked flush (``SendList.check``) during the test."""
    sizes: list[int] = []
    real_check = SendList.check

    def check(send_list: SendList[Any], payload: bytes, wire: bytes) -> Any:
        sizes.append(len(send_list.viewers))
        return real_check(send_list, payload, wire)

    monkeypatch.setattr(SendList, "check", check)
    return sizes


async def _say(hub: Hub, engine: MemoryEngine, text: str) -> None:
    """Publish a comment in room r1 and flush."""
    await engine.publish("r1", room_event_body("comment", text=text))
    hub.flush_all()


def _end(out: DirectOut, transport: Any, client: socket.socket, server: Any) -> None:
    """Close one ``_pair`` and its DirectOut."""
    out.release()
    transport.close()
    client.close()
    server.close()


async def _end_all(outs: list[DirectOut], pairs: list[Any], engine: MemoryEngine) -> None:
    for out, pair in zip(outs, pairs, strict=True):
        _end(out, *pair)
    await engine.close()


def _read_frames(
    client: socket.socket, events: int, timeout: float, data: bytes = b""
) -> list[dict[str, Any]]:
    """Read server WebSocket text frames until ``events`` events arrived (after ``data``, bytes
    already read); fail on any byte that is not part of a whole, well-formed frame."""
    client.settimeout(timeout)
    got: list[dict[str, Any]] = []
    while len(got) < events:
        if split_frame(data) is None:
            chunk = client.recv(65536)
            assert chunk, "the server closed the connection"
            data += chunk
        while data:
            assert data[0] == 0x81, f"not the start of a text frame: {data[:8]!r}"
            frame = split_frame(data)
            if frame is None:
                break
            _, payload, end = frame
            got.extend(orjson.loads(payload))
            data = data[end:]
    assert not data, "bytes after the last frame"
    return got


def _nothing_more(client: socket.socket) -> bytes:
    """What ``client`` can read right now without waiting (b"" when nothing)."""
    client.setblocking(False)
    try:
        return client.recv(4096)
    except BlockingIOError:
        return b""


@LOOPS
def test_a_full_socket_gets_every_frame_whole_and_in_order(send_loop: str) -> None:
    """Flushes outrun a 16 kB send buffer: the kernel takes part of a frame, the rest waits in
    uvloop, the next flushes go behind it, and the reader gets whole frames in offset order."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        transport, client, server = await _pair()
        out = DirectOut(transport)
        try:
            room = await hub.room("r1")
            hub.join(room, Viewer(Link(out), "u1"), await engine.head("r1"))
            shorts = _shorts()
            count = 200
            for n in range(count):
                await engine.publish("r1", room_event_body("comment", text=f"{n} {TEXT}"))
                hub.flush_all()
            assert _shorts() > shorts, "the kernel never refused a byte: nothing tested"
            assert out.get_write_buffer_size() > 0
            got = await asyncio.to_thread(_read_frames, client, count, scaled(10))
            assert [e["text"].split()[0] for e in got] == [str(n) for n in range(count)]
            offsets = [e["offset"] for e in got]
            assert offsets == list(range(offsets[0], offsets[0] + count))
        finally:
            _end(out, transport, client, server)
            await engine.close()

    run(body)


@LOOPS
def test_a_fast_flush_into_a_full_socket_queues_that_frame_and_spares_the_rest(
    send_loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three viewers on the fast path; the middle one's socket is full (EAGAIN) at a flush: its
    frame waits in uvloop and reaches it after the bytes already sent, the others get theirs."""
    behind: list[DirectOut] = []
    real_behind = DirectOut.behind

    def record(out: DirectOut, data: bytes, sent: int) -> None:
        behind.append(out)
        real_behind(out, data, sent)

    monkeypatch.setattr(DirectOut, "behind", record)

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        pairs = [await _pair(roomy=True), await _pair(), await _pair(roomy=True)]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        try:
            room = await hub.room("r1")
            for n, out in enumerate(outs):
                hub.join(room, Viewer(Link(out), f"u{n}"), await engine.head("r1"))
            await engine.publish("r1", room_event_body("comment", text="first"))
            hub.flush_all()  # a checked flush: all three go on the fast list
            assert len(room.send_list.outs) == 3
            assert room.send_list.unchecked == CHECK_EVERY - 1
            fills = _fill(outs[1].sock)
            await engine.publish("r1", room_event_body("comment", text=f"second {BIG}"))
            hub.flush_all()  # a fast flush
            assert behind == [outs[1]], "only the full socket's rest waits in uvloop"
            assert outs[1].get_write_buffer_size() > 0
            assert outs[0].get_write_buffer_size() == outs[2].get_write_buffer_size() == 0
            for n, (_, client, _) in enumerate(pairs):
                got = await asyncio.to_thread(_read_frames, client, 2, scaled(10))
                assert [e["text"].split()[0] for e in got] == ["first", "second"], n
            assert fills > 0
        finally:
            await _end_all(outs, pairs, engine)

    run(body)


class Posted(PayloadOut):
    """A viewer's out on the ASGI path: it takes each frame's payload, and never fills."""

    __slots__ = ("payloads",)

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def post(self, payload: bytes) -> None:
        self.payloads.append(payload)

    def get_write_buffer_size(self) -> int:
        return 0


@LOOPS
def test_a_send_cut_short_in_a_fast_flush_leaves_no_payload_viewer_out(send_loop: str) -> None:
    """A viewer on the ASGI path (a ``PayloadOut``) beside two on the fast path. At a fast
    flush one socket takes its frame only in part, which lets go of the send lists: the
    payload viewer still gets that frame, as the others do."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        pairs = [await _pair(roomy=True), await _pair()]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        posted = Posted()
        try:
            room = await hub.room("r1")
            for n, out in enumerate(outs):
                hub.join(room, Viewer(Link(out), f"u{n}"), await engine.head("r1"))
            hub.join(room, Viewer(Link(posted), "asgi"), await engine.head("r1"))  # type: ignore[arg-type]
            await _say(hub, engine, "first")  # a checked flush: the lists are built
            assert room.send_list.posts and room.send_list.unchecked > 0
            shorts = _shorts()
            _fill(outs[1].sock)
            await _say(hub, engine, f"second {BIG}")  # a fast flush, cut short at outs[1]
            assert _shorts() > shorts
            texts = [orjson.loads(payload)[0]["text"].split()[0] for payload in posted.payloads]
            assert texts == ["first", "second"]
            for n, (_, client, _) in enumerate(pairs):
                got = await asyncio.to_thread(_read_frames, client, 2, scaled(10))
                assert [e["text"].split()[0] for e in got] == ["first", "second"], n
        finally:
            await _end_all(outs, pairs, engine)

    run(body)


def test_writes_between_flushes_queue_behind_a_short_send() -> None:
    """A reply written while part of a frame waits in uvloop goes after it, not into it."""

    async def body() -> None:
        transport, client, server = await _pair()
        out = DirectOut(transport)
        try:
            big = b"\x81\x7f" + (1_000_000).to_bytes(8, "big") + b"[" + b" " * 999_998 + b"]"
            small = b"\x81\x02[]"
            out.write(big)  # more than the buffers hold: part goes now, the rest to uvloop
            assert out.get_write_buffer_size() > 0
            out.write(small)  # must not reach the socket before the rest of ``big``
            client.settimeout(scaled(10))
            data = b""
            while len(data) < len(big) + len(small):
                chunk = await asyncio.to_thread(client.recv, 65536)
                assert chunk
                data += chunk
            assert data == big + small
        finally:
            _end(out, transport, client, server)

    run(body)


def test_after_close_only_uvloop_writes() -> None:
    """``close`` releases the socket: ``sock.send`` fails with EBADF (nothing can follow the Close
    frame from the hub's lists), and ``write`` hands the bytes to uvloop as before."""

    async def body() -> None:
        transport, client, server = await _pair()
        out = DirectOut(transport)
        out.write(b"\x81\x02[]")
        out.close()
        try:
            out.sock.send(b"\x81\x02[]")
        except OSError as exc:
            assert exc.errno == errno.EBADF
        else:
            raise AssertionError("a released socket sent")
        assert not out.live and transport.is_closing()
        client.settimeout(scaled(5))
        assert await asyncio.to_thread(client.recv, 16) == b"\x81\x02[]"
        assert await asyncio.to_thread(client.recv, 16) == b""  # then uvloop closes
        client.close()
        server.close()

    run(body)


def test_a_dropped_direct_out_leaves_the_descriptor_open() -> None:
    """A DirectOut garbage-collected without ``release`` (uvloop closed the descriptor without
    calling the protocol, when a loop closes) never closes the descriptor number itself."""

    async def body() -> None:
        transport, client, server = await _pair()
        out = DirectOut(transport)
        fd = transport.get_extra_info("socket").fileno()
        del out
        gc.collect()
        os.fstat(fd)  # still open: raises OSError (EBADF) if the finalizer closed it
        transport.write(b"\x81\x02[]")
        client.settimeout(scaled(5))
        assert await asyncio.to_thread(client.recv, 16) == b"\x81\x02[]"
        transport.close()
        client.close()
        server.close()

    run(body)


def test_a_reset_peer_ends_the_connection() -> None:
    """A send that fails with a reset aborts the transport, as uvloop's own write would."""

    async def body() -> None:
        transport, client, server = await _pair()
        out = DirectOut(transport)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # an RST, not a FIN
        out.write(b"\x81\x02[]")
        assert not out.live and transport.is_closing()
        server.close()

    run(body)


@LOOPS
def test_a_room_all_on_send_checks_buffers_only_after_a_short_send(
    send_loop: str, checked: list[int]
) -> None:
    """Every viewer on the ``send`` list: no periodic buffer check (the kernel tells of every
    short send), so flush after flush goes straight out; the flush after a short send checks."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        pairs = [await _pair(), await _pair(roomy=True), await _pair(roomy=True)]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        try:
            room = await hub.room("r1")
            for n, out in enumerate(outs):
                hub.join(room, Viewer(Link(out), f"u{n}"), await engine.head("r1"))
            flushes = CHECK_EVERY * 2 + 1
            for n in range(flushes):
                await engine.publish("r1", room_event_body("comment", text=f"c{n}"))
                hub.flush_all()
            assert checked == [3], checked  # the first flush only
            for n, (_, client, _) in enumerate(pairs):
                got = await asyncio.to_thread(_read_frames, client, flushes, scaled(10))
                assert [e["text"] for e in got] == [f"c{i}" for i in range(flushes)], n
            _fill(outs[0].sock)
            before = _shorts()
            await engine.publish("r1", room_event_body("comment", text=f"cut {BIG}"))
            hub.flush_all()  # the send to the full socket is cut short (or refused)
            assert _shorts() == before + 1 and outs[0].get_write_buffer_size() > 0
            assert room.send_list.writes is None, "the short send did not mark its list"
            assert checked == [3]
            await engine.publish("r1", room_event_body("comment", text="after"))
            hub.flush_all()
            assert checked == [3, 3], "the flush after a short send checks every buffer"
        finally:
            await _end_all(outs, pairs, engine)

    run(body)


@LOOPS
def test_the_pulse_looks_at_no_buffer_while_every_viewer_is_on_send(send_loop: str) -> None:
    """The pulse's look for viewers over their bound (``close_laggards``) skips a room whose
    viewers all took their last frame whole; after a short send it looks at every one again."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        pairs = [await _pair(), await _pair(roomy=True), await _pair(roomy=True)]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        looked: list[int] = []
        for n, out in enumerate(outs):
            size = out.get_write_buffer_size

            def counted(size: Any = size, n: int = n) -> int:
                looked.append(n)
                return int(size())

            out.get_write_buffer_size = counted
        try:
            room = await hub.room("r1")
            for n, out in enumerate(outs):
                hub.join(room, Viewer(Link(out), f"u{n}"), await engine.head("r1"))
            for n in range(3):
                await engine.publish("r1", room_event_body("comment", text=f"c{n}"))
                hub.flush_all()
            looked.clear()
            room.close_laggards()
            assert looked == [], "every viewer is on send: nothing to look at"
            _fill(outs[0].sock)
            await engine.publish("r1", room_event_body("comment", text=f"cut {BIG}"))
            hub.flush_all()  # cut short: the lists are stale
            assert outs[0].get_write_buffer_size() > 0
            looked.clear()
            room.close_laggards()
            assert sorted(looked) == [0, 1, 2]
        finally:
            await _end_all(outs, pairs, engine)

    run(body)


@LOOPS
def test_the_send_loop_skips_a_socket_released_since_its_list_was_made(send_loop: str) -> None:
    """The send loop holds descriptor numbers. Two of three viewers' sockets are released between
    two fast flushes, their descriptors still open (as in ``connection_lost``, before uvloop
    closes them): each release blanks its own slot, and the next flush, still a fast one, does
    not write to those numbers."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        pairs = [await _pair() for _ in range(3)]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        try:
            room = await hub.room("r1")
            for n, out in enumerate(outs):
                hub.join(room, Viewer(Link(out), f"u{n}"), await engine.head("r1"))
            await engine.publish("r1", room_event_body("comment", text="before"))
            hub.flush_all()  # a checked flush: all three on the fast list
            fanout = room.send_list
            assert sorted(fanout.fds) == sorted(out.sock.fileno() for out in outs)
            gone = [outs[0].sock.fileno(), outs[2].sock.fileno()]
            outs[0].release()
            outs[2].release()
            assert sorted(fanout.fds) == sorted([-1, -1, outs[1].sock.fileno()])
            await engine.publish("r1", room_event_body("comment", text="after"))
            hub.flush_all()
            assert fanout.writes is not None, "not fast"
            assert fanout.unchecked == CHECK_EVERY - 2, "not fast"
            assert sorted(fanout.fds) == sorted([-1, -1, outs[1].sock.fileno()])
            got = await asyncio.to_thread(_read_frames, pairs[1][1], 2, scaled(10))
            assert [e["text"] for e in got] == ["before", "after"]
            for n in (0, 2):
                client = pairs[n][1]
                assert [e["text"] for e in _read_frames(client, 1, scaled(10))] == ["before"]
                extra = _nothing_more(client)
                assert extra == b"", f"a released socket got {extra!r}"
            for fd in gone:
                os.fstat(fd)  # still open: the numbers were live, and skipped
        finally:
            await _end_all(outs, pairs, engine)

    run(body)


@LOOPS
@pytest.mark.parametrize("rebuild", [False, True])
def test_a_reused_descriptor_number_gets_its_new_connection_s_frames(
    send_loop: str, rebuild: bool
) -> None:
    """A viewer's connection ends and uvloop closes its descriptor; the next connection gets
    the same number (Linux hands out the lowest free one) and joins the room. The old
    connection's leave and release must not blank the new one: it gets every frame and stays
    open. The new viewer is appended to the fast lists in place, or (``rebuild``) the lists are
    rebuilt by a checked flush."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        loop = asyncio.get_running_loop()
        pairs = [await _pair() for _ in range(2)]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        viewers = [Viewer(Link(out), f"u{n}") for n, out in enumerate(outs)]
        try:
            room = await hub.room("r1")
            for viewer in viewers:
                hub.join(room, viewer, await engine.head("r1"))
            await engine.publish("r1", room_event_body("comment", text="one"))
            hub.flush_all()  # checked: both on the fast list
            old_fd = outs[0].sock.fileno()
            # the next connection's client end exists before the old descriptor is freed, so
            # that the freed number goes to the server end of the new connection
            accepted: asyncio.Future[Any] = loop.create_future()
            server = await loop.create_server(lambda: Accept(accepted), "127.0.0.1", 0)
            client = socket.socket()
            hub.leave(viewers[0])
            outs[0].close()  # releases, then uvloop closes the descriptor
            deadline = loop.time() + scaled(5)
            while True:  # uvloop closes it on a later turn of the loop
                try:
                    os.fstat(old_fd)
                except OSError:
                    break
                assert loop.time() < deadline, "uvloop never closed the descriptor"
                await asyncio.sleep(0)
            await loop.sock_connect(client, server.sockets[0].getsockname())
            transport = await asyncio.wait_for(accepted, scaled(5))
            new = DirectOut(transport)
            assert new.sock.fileno() == old_fd, "the number was not reused: nothing tested"
            pairs[0][1].close()
            hub.join(room, Viewer(Link(new), "u2"), await engine.head("r1"))
            for text in ("two", "three"):
                if rebuild:
                    room.send_list.stale()  # the next flush checks every buffer
                await engine.publish("r1", room_event_body("comment", text=text))
                hub.flush_all()
            outs[0].release()  # again: a no-op, the old connection holds no slot
            fast = 0 if rebuild else 2  # fast flushes since the last checked one
            assert room.send_list.unchecked == CHECK_EVERY - 1 - fast
            assert list(room.send_list.fds).count(old_fd) == 1
            assert new.owner is room.send_list
            got = await asyncio.to_thread(_read_frames, client, 2, scaled(10))
            assert [e["text"] for e in got] == ["two", "three"]
            assert new.live and not transport.is_closing()
            got = await asyncio.to_thread(_read_frames, pairs[1][1], 3, scaled(10))
            assert [e["text"] for e in got] == ["one", "two", "three"]
            _end(new, transport, client, server)
        finally:
            await _end_all(outs, pairs, engine)

    run(body)


@LOOPS
def test_a_reset_viewer_is_ended_by_the_fast_flush_and_the_others_get_the_frame(
    send_loop: str,
) -> None:
    """A peer that reset its connection: the fast flush's send fails, that connection is
    aborted (released first), and the others get the frame."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        pairs = [await _pair() for _ in range(3)]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        try:
            room = await hub.room("r1")
            for n, out in enumerate(outs):
                hub.join(room, Viewer(Link(out), f"u{n}"), await engine.head("r1"))
            await engine.publish("r1", room_event_body("comment", text="one"))
            hub.flush_all()  # checked: all three on the fast list
            gone = pairs[1][1]
            assert [e["text"] for e in _read_frames(gone, 1, scaled(10))] == ["one"]
            gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            gone.close()  # an RST
            gone_fd = outs[1].sock.fileno()
            for n in range(3):  # a send into a reset connection fails at once, or the next
                await engine.publish("r1", room_event_body("comment", text=f"c{n}"))
                hub.flush_all()
                if not outs[1].live:
                    break
            assert not outs[1].live and pairs[1][0].is_closing()
            assert gone_fd not in room.send_list.fds, "the released number is still sent to"
            for n in (0, 2):
                got = await asyncio.to_thread(_read_frames, pairs[n][1], 2, scaled(10))
                assert [e["text"] for e in got] == ["one", "c0"], n
                assert outs[n].live
        finally:
            await _end_all(outs, pairs, engine)

    run(body)


@LOOPS
def test_joins_and_leaves_need_no_buffer_check(send_loop: str, checked: list[int]) -> None:
    """A viewer leaving is blanked in place and one joining is appended: no flush checks every
    buffer again, with either send loop. The one that left (its connection still open) gets
    nothing more; the one that joined gets every frame from its join."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        pairs = [await _pair() for _ in range(4)]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        viewers = [Viewer(Link(out), f"u{n}") for n, out in enumerate(outs)]
        try:
            room = await hub.room("r1")
            for viewer in viewers[:3]:
                hub.join(room, viewer, await engine.head("r1"))
            await _say(hub, engine, "one")  # checked: three viewers
            hub.leave(viewers[0])
            await _say(hub, engine, "two")
            hub.join(room, viewers[3], await engine.head("r1"))
            await _say(hub, engine, "three")
            await _say(hub, engine, "four")
            assert checked == [3], checked
            assert room.send_list.blanks == 1 and sorted(room.send_list.fds)[0] == -1
            expect = {
                0: ["one"],
                1: ["one", "two", "three", "four"],
                2: ["one", "two", "three", "four"],
                3: ["three", "four"],
            }
            for n, texts in expect.items():
                client = pairs[n][1]
                got = await asyncio.to_thread(_read_frames, client, len(texts), scaled(10))
                assert [e["text"] for e in got] == texts, n
                extra = _nothing_more(client)
                assert extra == b"", (n, extra)
            assert all(out.live for out in outs)
        finally:
            await _end_all(outs, pairs, engine)

    run(body)


@LOOPS
def test_many_blanks_bring_a_checked_flush(send_loop: str, checked: list[int]) -> None:
    """Blanked slots cost the send loop a skipped entry each flush: past 64 (and an eighth of the
    list) the next flush checks every buffer and rebuilds the list without them."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        pairs = [await _pair() for _ in range(67)]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        viewers = [Viewer(Link(out), f"u{n}") for n, out in enumerate(outs)]
        try:
            room = await hub.room("r1")
            for viewer in viewers:
                hub.join(room, viewer, await engine.head("r1"))
            await _say(hub, engine, "one")
            for viewer in viewers[:64]:
                hub.leave(viewer)
            await _say(hub, engine, "two")
            assert checked == [67] and room.send_list.blanks == 64  # not past the bound yet
            hub.leave(viewers[64])
            await _say(hub, engine, "three")
            assert checked == [67, 2]
            assert room.send_list.blanks == 0 and len(room.send_list.fds) == 2
            for n in (65, 66):
                got = await asyncio.to_thread(_read_frames, pairs[n][1], 3, scaled(10))
                assert [e["text"] for e in got] == ["one", "two", "three"]
        finally:
            await _end_all(outs, pairs, engine)

    run(body)


@LOOPS
def test_releases_past_the_blank_bound_bring_a_checked_flush(
    send_loop: str, checked: list[int]
) -> None:
    """Sixty-five viewers released but still in the room (as while a drain waits for their
    Close): each release blanks its own slot at once, so the next flush is past the blank bound
    and checks every buffer; every remaining viewer gets every frame, and a released one gets
    its frames only through uvloop, never from the send loop."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        pairs = [await _pair() for _ in range(67)]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        try:
            room = await hub.room("r1")
            for n, out in enumerate(outs):
                hub.join(room, Viewer(Link(out), f"u{n}"), await engine.head("r1"))
            await engine.publish("r1", room_event_body("comment", text="one"))
            hub.flush_all()
            for out in outs[:65]:
                out.release()
            assert room.send_list.blanks == 65 and sorted(room.send_list.fds)[64] == -1
            for text in ("two", "three"):
                await engine.publish("r1", room_event_body("comment", text=text))
                hub.flush_all()
            assert checked == [67, 67], checked  # "two" checked; "three" fast
            assert len(room.send_list.fds) == 2 and -1 not in room.send_list.fds
            for n in (65, 66):
                got = await asyncio.to_thread(_read_frames, pairs[n][1], 3, scaled(10))
                assert [e["text"] for e in got] == ["one", "two", "three"]
            # a released viewer: the checked flush hands its frames to uvloop, which owns the
            # still open descriptor, and the send loop never holds its number again
            got = await asyncio.to_thread(_read_frames, pairs[0][1], 3, scaled(10))
            assert [e["text"] for e in got] == ["one", "two", "three"]
            assert all(out.sock.fileno() < 0 for out in outs[:65])
        finally:
            await _end_all(outs, pairs, engine)

    run(body)


@LOOPS
def test_a_viewer_appended_in_place_and_then_released_gets_nothing_more(send_loop: str) -> None:
    """A viewer added to the fast lists in place (after a leave blanked a slot) is released
    without leaving: its own slot is blanked like any other."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        pairs = [await _pair() for _ in range(3)]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        viewers = [Viewer(Link(out), f"u{n}") for n, out in enumerate(outs)]
        try:
            room = await hub.room("r1")
            for viewer in viewers[:2]:
                hub.join(room, viewer, await engine.head("r1"))
            await engine.publish("r1", room_event_body("comment", text="one"))
            hub.flush_all()
            hub.leave(viewers[0])
            assert room.send_list.blanks == 1
            hub.join(room, viewers[2], await engine.head("r1"))
            await engine.publish("r1", room_event_body("comment", text="two"))
            hub.flush_all()  # viewers[2] goes onto the lists in place
            assert room.send_list.unchecked == CHECK_EVERY - 2
            fd = outs[2].sock.fileno()
            outs[2].release()
            assert fd not in room.send_list.fds and room.send_list.blanks == 2
            await engine.publish("r1", room_event_body("comment", text="three"))
            hub.flush_all()
            got = await asyncio.to_thread(_read_frames, pairs[2][1], 1, scaled(10))
            assert [e["text"] for e in got] == ["two"]
            assert _nothing_more(pairs[2][1]) == b"", "a released socket was written to"
            got = await asyncio.to_thread(_read_frames, pairs[1][1], 3, scaled(10))
            assert [e["text"] for e in got] == ["one", "two", "three"]
        finally:
            await _end_all(outs, pairs, engine)

    run(body)


@LOOPS
def test_a_joiner_with_bytes_queued_is_not_sent_to_directly(send_loop: str) -> None:
    """A viewer joins while part of a private frame still waits in uvloop: it must not go onto
    the ``send`` list in place, or the room's next frame would cut into that frame."""

    async def body() -> None:
        hub, engine = await _hub(send_loop)
        pairs = [await _pair() for _ in range(2)]
        outs = [DirectOut(transport) for transport, _, _ in pairs]
        viewers = [Viewer(Link(out), f"u{n}") for n, out in enumerate(outs)]
        try:
            room = await hub.room("r1")
            hub.join(room, viewers[0], await engine.head("r1"))
            await engine.publish("r1", room_event_body("comment", text="one"))
            hub.flush_all()
            big = ws_text_frame(orjson.dumps([{"text": "big", "pad": "y" * 200_000}]))
            outs[1].write(big)  # more than the buffers take: the rest waits in uvloop
            assert outs[1].get_write_buffer_size() > 0
            await engine.publish("r1", room_event_body("comment", text="two"))
            hub.flush_all()  # the room's lists are current: a join could go in place
            hub.join(room, viewers[1], await engine.head("r1"))
            client = pairs[1][1]
            head = b""
            while chunk := _nothing_more(client):  # room in the kernel's buffers, uvloop idle
                head += chunk
            assert head and outs[1].get_write_buffer_size() > 0
            await engine.publish("r1", room_event_body("comment", text="three"))
            hub.flush_all()
            got = await asyncio.to_thread(_read_frames, client, 2, scaled(10), head)
            assert [e["text"] for e in got] == ["big", "three"]
        finally:
            await _end_all(outs, pairs, engine)

    run(body)
