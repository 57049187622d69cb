"""The compiled viewer client (``loadtest/viewers.c`` through ``loadtest.native``) against a
scripted WebSocket server: it must see what ``SimViewer`` sees (gaps, repeats, epochs, bad
frames, latency), answer pings and closes, and post comments and read their replies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest import native
from loadtest.native import NativePool
from loadtest.results import histogram, percentiles

SECRET = "s" * 32
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(autouse=True)
def build_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEROOM_NATIVE_CACHE", str(tmp_path_factory.getbasetemp() / "native"))


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


def test_the_client_builds_once_per_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEROOM_NATIVE_CACHE", str(tmp_path))
    first = native.binary()
    assert first.exists() and first.parent == tmp_path
    assert native.binary() == first  # the same source: built already
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.raises((native.BuildError, OSError)):
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
            joined = await pool.all(
                "rooms_connect",
                10,
                per=[{"shares": [["room-a", "small", 0, 1]]}],
                concurrency=4,
                timeout=5,
            )
            assert joined[0]["opened"] == 1 and joined[0]["snapshots"] == 1, joined
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
    assert latency["count"] == 2  # the events with a ts
    assert 40 <= latency["p50"] <= 1000 and 190 <= latency["max"] <= 2000, latency
    assert seen["pong"] == (10, b"abc")
    assert seen["close"] == (8, (1000).to_bytes(2, "big"))


async def test_comments_are_posted_and_their_replies_read() -> None:
    """A room posting 40 comments a second for half a second: each reply's offset makes the
    room's head, a refusal is counted by its code, and the server's close is counted."""
    posted: list[dict[str, Any]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(events({"type": "snapshot", "offset": 0, "epoch": "e"}))
        while True:
            opcode, data = await read_frame(reader)
            if opcode == 8:
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
            if n == 10:
                writer.write(frame((4001).to_bytes(2, "big") + b"bye", opcode=8))
                return

    server, _ = await serve(script)
    async with server:
        pool = pool_for(server)
        async with pool:
            await pool.all(
                "rooms_connect",
                10,
                per=[{"shares": [["room-b", "hot", 0, 1]]}],
                concurrency=1,
                timeout=5,
            )
            traffic = await pool.all(
                "rooms_traffic",
                20,
                per=[{"publish": [["room-b", 40.0]]}],
                duration=0.5,
                t0=time.time(),
            )
            report = (await pool.all("rooms_report", 10, heads=traffic[0]["heads"]))[0]
            await pool.all("rooms_close", 10)
    # the server closed after the 10th comment's reply: later ones found the connection shut
    assert len(posted) == 10 and all(p["type"] == "comment" for p in posted)
    assert len({p["id"] for p in posted}) == 10
    assert traffic[0]["heads"] == {"room-b": 10}, traffic
    assert traffic[0]["cpu_s"] >= 0
    hot = report["hot"]
    assert hot["answers"] == {"comment:ok": 9, "comment:rate_limited": 1}, hot
    assert hot["sent"] == {"comment": 10} and hot["unanswered"] == 0
    assert hot["closes"] == {"4001": 1} and hot["live"] == 0
    assert hot["delivered"] == 10 and hot["lost"] == 0
    assert percentiles(histogram(hot["reply_latency"]))["count"] == 10


async def test_a_refused_upgrade_is_a_connect_error() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    async with server:
        pool = pool_for(server)
        async with pool:
            joined = await pool.all(
                "rooms_connect",
                10,
                per=[{"shares": [["room-c", "medium", 0, 3]]}],
                concurrency=2,
                timeout=5,
            )
            report = (await pool.all("rooms_report", 10, heads={}))[0]
            await pool.all("rooms_close", 10)
    assert joined[0] == {"opened": 0, "snapshots": 0, "all_s": joined[0]["all_s"]}
    assert report["medium"]["connect_errors"] == {"HandshakeError": 3}
