"""The compiled viewer client (``loadtest/viewers.c`` through ``loadtest.native``) against a
scripted WebSocket server: it must see what ``SimViewer`` sees (gaps, repeats, epochs, bad
frames, latency), answer pings and closes, and post comments and read their replies."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest import native
from loadtest.native import NativePool
from loadtest.results import histogram, percentiles
from loadtest.viewer import SimViewer, Tally

SECRET = "s" * 32
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

pytestmark = pytest.mark.usefixtures("native_cache")


def frame(payload: bytes | str, opcode: int = 1, fin: bool = True) -> bytes:
    """A server frame (unmasked)."""
    data = payload.encode() if isinstance(payload, str) else payload
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(data)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + data


def events(*items: dict[str, Any]) -> bytes:
    return frame(orjson.dumps(list(items)))


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One client frame: (opcode, unmasked payload)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    assert b1 & 0x80, "a client frame must be masked"
    mask = await reader.readexactly(4)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(n)))
    return b0 & 0x0F, data


async def serve(script: Script) -> tuple[asyncio.Server, list[str]]:
    """A server that upgrades every connection and runs ``script`` on it; the request lines
    it got are kept."""
    targets: list[str] = []

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        targets.append(request.split(b" ")[1].decode())
        assert b"Upgrade: websocket" in request and b"Sec-WebSocket-Version: 13" in request
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        try:
            await script(reader, writer)
        finally:
            writer.close()

    return await asyncio.start_server(one, "127.0.0.1", 0), targets


def pool_for(server: asyncio.Server) -> NativePool:
    port = server.sockets[0].getsockname()[1]
    return NativePool(1, {"host": "127.0.0.1", "port": port, "secret": SECRET})


async def join(pool: NativePool, room: str, kind: str, viewers: int = 1) -> dict[str, Any]:
    """Connect ``viewers`` viewers of ``room`` (class ``kind``) through the one process."""
    shares = [[room, kind, 0, viewers]]
    joined = await pool.all("rooms_connect", 10, per=[{"shares": shares}], concurrency=2, timeout=5)
    return dict(joined[0])


def test_the_client_builds_once_per_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEROOM_NATIVE_CACHE", str(tmp_path / "cache"))
    first = native.binary()
    assert first.exists() and first.parent == tmp_path / "cache"
    built = first.stat().st_mtime_ns, first.stat().st_ino
    assert native.binary() == first  # the same source: built already, not again
    assert (first.stat().st_mtime_ns, first.stat().st_ino) == built
    edited = tmp_path / "viewers.c"  # an edit builds afresh, beside the first
    edited.write_bytes(native.SOURCE.read_bytes() + b"\n/* edited */\n")
    monkeypatch.setattr(native, "SOURCE", edited)
    second = native.binary()
    assert second != first and second.exists() and first.exists()
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.raises(native.BuildError, match="cannot run"):
        native.binary()


async def test_a_viewer_counts_what_a_python_viewer_counts() -> None:
    """Gaps, repeats, an epoch's resync, a fragmented message, a long frame, a bad frame, a
    private event, latency from ``ts``, a ping answered and the harness's own close."""
    seen: dict[str, Any] = {}
    done = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tricky = 'a "quoted" ] } [ { text'
        writer.write(
            events({"type": "snapshot", "offset": 5, "epoch": "e1", "events": [{"text": tricky}]})
        )
        now = time.time()
        writer.write(
            events({"offset": 6, "type": "comment", "ts": now - 0.05, "user": {"id": "u"}})
        )
        writer.write(events({"offset": 7, "type": "comment"}, {"offset": 7, "type": "comment"}))
        writer.write(frame(b"abc", opcode=9))  # a ping
        whole = orjson.dumps([{"offset": 9, "type": "comment", "ts": now - 0.2}])
        writer.write(frame(whole[:10], fin=False) + frame(whole[10:], opcode=0))
        writer.write(events({"type": "online", "count": 12}))
        writer.write(events({"offset": 10, "type": "comment", "text": "x" * 300}))
        writer.write(frame("not json"))
        writer.write(events({"type": "resync", "offset": 20, "epoch": "e2"}))
        writer.write(events({"offset": 21, "type": "comment", "ts": None}))
        seen["pong"] = await read_frame(reader)
        seen["close"] = await read_frame(reader)  # the harness closes at the end
        done.set()

    server, targets = await serve(script)
    async with server:
        pool = pool_for(server)
        async with pool:
            joined = await join(pool, "room-a", "small", 1)
            assert joined["opened"] == 1 and joined["snapshots"] == 1, joined
            drained = await pool.all("rooms_drain", 10, heads={"room-a": 21}, timeout=5)
            assert drained[0]["behind"] == 0, drained
            report = (await pool.all("rooms_report", 10, heads={"room-a": 21}))[0]
            await pool.all("rooms_close", 10)
            await asyncio.wait_for(done.wait(), 10)
    assert targets[0].startswith("/ws?room=room-a&token=")
    small = report["small"]
    assert small["snapshots"] == 1 and small["viewers"] == 1
    assert small["delivered"] == 5  # 6, 7, 9, 10, 21
    assert small["duplicated"] == 1 and small["gaps"] == 1  # 7 again; 8 never came
    assert small["resets"] == 1  # the resync to e2's 20
    assert small["frames"] == 5 and small["bad_frames"] == 1
    assert small["private"] == {"online": 1}
    assert small["expected"] == 21 - 5 and small["lost"] == 0
    latency = percentiles(histogram(small["latency"]))
    assert latency["count"] == 2  # the events with a ts: 50 and 200 ms old when written
    assert 45 <= latency["p50"] < 450, latency  # in ms: not off by a factor of ten
    assert 140 <= latency["max"] - latency["p50"] < 450, latency  # 150 ms apart
    assert seen["pong"] == (10, b"abc")
    assert seen["close"] == (8, (1000).to_bytes(2, "big"))


async def test_comments_are_posted_and_their_replies_read() -> None:
    """A room posting 40 comments a second for half a second: each reply's offset makes the
    room's head, a refusal is counted by its code; then the server's close is counted."""
    posted: list[dict[str, Any]] = []
    stop, acknowledged = asyncio.Event(), asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(events({"type": "snapshot", "offset": 0, "epoch": "e"}))

        async def close_when_told() -> None:
            await stop.wait()
            writer.write(frame((4001).to_bytes(2, "big") + b"bye", opcode=8))

        closer = asyncio.create_task(close_when_told())
        while True:
            opcode, data = await read_frame(reader)
            if opcode == 8:  # the client's answer to our close
                acknowledged.set()
                await closer
                return
            body = orjson.loads(data)
            posted.append(body)
            n = len(posted)
            if n == 3:
                reply = {"type": "reply", "id": body["id"], "ok": False}
                reply["error"] = {"code": "rate_limited", "message": "slow down"}
            else:
                reply = {"type": "reply", "id": body["id"], "ok": True, "offset": n}
            writer.write(events(reply, {"offset": n, "type": "comment", "ts": time.time()}))

    server, _ = await serve(script)
    async with server:
        pool = pool_for(server)
        async with pool:
            await join(pool, "room-b", "hot", 1)
            traffic = await pool.all(
                "rooms_traffic",
                20,
                per=[{"publish": [["room-b", 40.0]]}],
                duration=0.5,
                t0=time.time(),
            )
            stop.set()  # every comment is answered by now: the traffic waited for the replies
            await asyncio.wait_for(acknowledged.wait(), 10)
            report = (await pool.all("rooms_report", 10, heads=traffic[0]["heads"]))[0]
            await pool.all("rooms_close", 10)
    n = len(posted)
    assert 10 <= n <= 30 and all(p["type"] == "comment" for p in posted), n  # about 20
    assert len({p["id"] for p in posted}) == n == traffic[0]["sent"]
    assert traffic[0]["heads"] == {"room-b": n}, traffic
    assert 0 < traffic[0]["cpu_s"] < 5, traffic  # the client's own CPU over the traffic
    hot = report["hot"]
    assert hot["answers"] == {"comment:ok": n - 1, "comment:rate_limited": 1}, hot
    assert hot["sent"] == {"comment": n} and hot["unanswered"] == 0
    assert hot["closes"] == {"4001": 1} and hot["live"] == 0
    assert hot["delivered"] == n and hot["lost"] == 0
    assert percentiles(histogram(hot["reply_latency"]))["count"] == n


async def test_a_refused_upgrade_is_a_connect_error() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    async with server:
        pool = pool_for(server)
        async with pool:
            joined = await join(pool, "room-c", "medium", 3)
            report = (await pool.all("rooms_report", 10, heads={}))[0]
            await pool.all("rooms_close", 10)
    assert joined == {"opened": 0, "snapshots": 0, "all_s": joined["all_s"]}
    assert report["medium"]["connect_errors"] == {"HandshakeError": 3}


# ---------------------------------------------------------------------- against SimViewer

#: frames orjson refuses: each is one bad frame, and none of its events may count
MALFORMED = [
    b"not json",
    b'[{"offset": 1, "type": "comment"} {"offset": 2, "type": "comment"}]',
    b'[{"offset": 1, "type": "comment"},]',
    b'[{"offset": 1, "type": "comment"}] trailing',
    b'[{"offset": 1, "type": "comment"}',
    b'[{"offset": 01, "type": "comment"}]',
    b'[{"offset": 1, "type": "comment",}]',
    b'[{"offset" 1}]',
    b'[{"offset": 1, "text": "a\\qb"}]',
    b'[{"offset": 1, "text": "a\x01b"}]',
    b'[{"offset": 1, "ts": 1.}]',
    b'[{"offset": 1, "ts": -}]',
    b'[{"offset": 1, "flag": tru}]',
    b'[{"offset": 1, "user": {"id": "u",}}]',
    b'[{"offset": 1, "user": ["a" "b"]}]',
]


def stream(seed: int) -> list[bytes]:
    """A viewer's messages: a snapshot, then room events with repeats and gaps, resyncs and
    reset snapshots to other epochs, skips, resumes, private events, long texts, escapes,
    nested objects with an offset of their own, and frames orjson refuses."""
    rng = random.Random(seed)
    now = time.time()
    offset, epoch = 3, "e0"
    out = [orjson.dumps([{"type": "snapshot", "offset": offset, "epoch": epoch, "events": []}])]
    for _ in range(150):
        if rng.random() < 0.08:
            out.append(rng.choice(MALFORMED))
            continue
        batch: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 4)):
            pick = rng.random()
            if pick < 0.7:
                offset = max(0, offset + rng.choice([1, 1, 1, 1, 1, 0, -1, 2, 3]))
                event: dict[str, Any] = {"offset": offset, "type": "comment"}
                if rng.random() < 0.8:
                    event["ts"] = now - rng.random()
                event["user"] = {"id": 'u\u00e9"', "offset": 10**6, "tags": [1, {"a": None}]}
                event["text"] = rng.choice(["plain", 'q"uote\\', "é中文", "x" * 70_000])
                batch.append(event)
            elif pick < 0.76:
                batch.append({"type": "skipped", "count": rng.randint(0, 5)})
            elif pick < 0.82:
                offset, epoch = rng.randint(0, offset + 10), rng.choice(["e0", "e1", "e2"])
                batch.append({"type": "resync", "offset": offset, "epoch": epoch})
            elif pick < 0.88:
                at, other = rng.randint(0, offset + 10), rng.choice(["e0", "e1"])
                batch.append(
                    {"type": "snapshot", "offset": at, "epoch": other, "reset": rng.random() < 0.5}
                )
            elif pick < 0.94:
                batch.append({"type": rng.choice(["online", "likes", "card"]), "count": 3})
            else:
                batch.append({"type": "resumed", "epoch": rng.choice(["e0", "e1", "e2"])})
        out.append(orjson.dumps(batch))
    return out


def python_counts(messages: list[bytes]) -> dict[str, Any]:
    """What ``SimViewer`` counts of ``messages``."""
    tally = Tally()
    viewer = SimViewer(tally, "u")
    viewer.began = time.time()
    for message in messages:
        viewer.on_message(message)
    return tally.summary()


async def native_counts(messages: list[bytes], rng: random.Random) -> dict[str, Any]:
    """What the compiled viewer counts of the same ``messages``, sent as frames cut at random
    places: some as fragments, some held back mid-frame until a ping's pong shows the client
    has read up to there, with a frame of over 256 kB now and then."""
    finished = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for message in messages:
            if rng.random() < 0.15 and len(message) > 3:
                cut = rng.randrange(1, len(message))
                writer.write(frame(message[:cut], fin=False) + frame(message[cut:], opcode=0))
            elif rng.random() < 0.15:
                wire = frame(message)
                cut = rng.randrange(1, len(wire))
                writer.write(frame(b"sync", opcode=9) + wire[:cut])
                assert await read_frame(reader) == (10, b"sync")  # read to mid-frame
                writer.write(wire[cut:])
            else:
                writer.write(frame(message))
            await writer.drain()
        writer.write(frame(b"end", opcode=9))
        assert await read_frame(reader) == (10, b"end")  # every message before it is read
        finished.set()
        await read_frame(reader)  # the harness's close

    server, _ = await serve(script)
    async with server:
        pool = pool_for(server)
        async with pool:
            joined = await join(pool, "room-d", "small")
            assert joined["snapshots"] == 1, joined
            await asyncio.wait_for(finished.wait(), 30)
            report = (await pool.all("rooms_report", 10, heads={}))[0]
            await pool.all("rooms_close", 10)
    return dict(report["small"])


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_compiled_viewer_counts_as_simviewer_does(seed: int) -> None:
    native.binary()  # built before the messages' stamps are taken
    messages = stream(seed)
    counted = await native_counts(messages, random.Random(seed))
    expected = python_counts(messages)  # read after the compiled viewer read them
    for name in ("delivered", "duplicated", "gaps", "skipped", "resets", "frames", "snapshots"):
        assert counted[name] == expected[name], (name, counted[name], expected[name])
    assert counted["bad_frames"] == expected["bad_frames"] > 0
    assert counted["private"] == expected["private"]
    assert sum(counted["latency"].values()) == sum(expected["latency"].values()) > 0
    # the same ages, to the 0.1 ms step, give or take the time between the two readings
    later = max(expected["latency"]) - max(counted["latency"])
    assert 0 <= later <= 5000, later


async def test_a_drain_says_who_is_behind_and_a_closed_port_is_refused() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(  # one write: the event is read with the snapshot the join waits for
            events({"type": "snapshot", "offset": 4, "epoch": "e"})
            + events({"offset": 5, "type": "comment"})
        )
        await read_frame(reader)  # held open until the harness closes

    server, _ = await serve(script)
    async with server:
        pool = pool_for(server)
        async with pool:
            await join(pool, "room-e", "small")
            drained = (await pool.all("rooms_drain", 10, heads={"room-e": 9}, timeout=0.3))[0]
            report = (await pool.all("rooms_report", 10, heads={"room-e": 9}))[0]
            await pool.all("rooms_close", 10)
    assert drained["behind"] == 1 and drained["missing"] == 9 - 5, drained
    assert report["small"]["lost"] == 4 and report["small"]["expected"] == 5

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pool = NativePool(1, {"host": "127.0.0.1", "port": port, "secret": SECRET})
    async with pool:
        joined = await join(pool, "room-f", "hot", 2)
        report = (await pool.all("rooms_report", 10, heads={}))[0]
        await pool.all("rooms_close", 10)
    assert joined["opened"] == 0
    assert report["hot"]["connect_errors"] == {"ConnectionRefusedError": 2}


def test_a_compiler_that_fails_is_a_build_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEROOM_NATIVE_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "false")  # runs, prints no version, and fails to compile
    with pytest.raises(native.BuildError, match="failed on viewers.c"):
        native.binary()
    assert not list(tmp_path.iterdir())  # nothing half built is left
