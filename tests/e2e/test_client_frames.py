"""Client frames as they come off the wire: several in one read, one cut over many reads,
fragments, control frames between commands, pongs, bad frames, each against a real server."""

from __future__ import annotations

import random
import socket
import time
from typing import Any

import orjson
import pytest

from tests.liveclient import token
from tests.timeouts import scaled
from tests.wsraw import CLOSE, CONT, PING, PONG, TEXT, RawSocketClient, client_frame

OPEN = {
    "user_comment_limit": 100_000,
    "room_comment_cap": 100_000,
    "command_rate": 100_000,
    "command_burst": 100_000,
    "comment_max_len": 1000,
}


def _joined(server: Any, user: str, room: str = "frames") -> RawSocketClient:
    client = RawSocketClient(server.port, f"/ws?room={room}&token={token(user, room)}", 1 << 16)
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.until_event(lambda event: event.get("type") == "snapshot")
    return client


def _comment(rid: str, text: str) -> bytes:
    return orjson.dumps({"type": "comment", "id": rid, "text": text})


def _replies(client: RawSocketClient, ids: list[str]) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < len(ids):
        reply = client.until_event(lambda e: e.get("type") == "reply" and e.get("id") in ids)
        seen[reply["id"]] = reply
    return seen


def _close_code(client: RawSocketClient, timeout: float = 10.0) -> int | None:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        frame = client.read_frame(max(0.01, deadline - time.monotonic()))
        if frame is None:
            return None
        if frame[0] == CLOSE:
            return int.from_bytes(frame[1][:2], "big") if len(frame[1]) >= 2 else None
    return None


def test_commands_in_one_write_are_all_answered(start_server) -> None:  # type: ignore[no-untyped-def]
    """Five commands, a ping and a fragmented command in one write: every reply, in order
    of the offsets given, and the pong with the ping's payload."""
    server = start_server(**OPEN)
    client = _joined(server, "batch")
    try:
        wire = b"".join(client_frame(TEXT, _comment(f"b{i}", f"m{i}")) for i in range(5))
        wire += client_frame(PING, b"are-you-there")
        whole = _comment("b5", "fragmented")
        wire += client_frame(TEXT, whole[:10], fin=False)
        wire += client_frame(CONT, whole[10:])
        wire += client_frame(TEXT, _comment("b6", "after the fragments"))
        client.sock.sendall(wire)
        pong = None
        replies: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + scaled(10)
        while (pong is None or len(replies) < 7) and time.monotonic() < deadline:
            frame = client.read_frame(1.0)
            if frame is None:
                continue
            if frame[0] == PONG:
                pong = frame[1]
            elif frame[0] == TEXT:
                for event in orjson.loads(frame[1]):
                    if event.get("type") == "reply":
                        replies[event["id"]] = event
        assert pong == b"are-you-there"
        assert sorted(replies) == [f"b{i}" for i in range(7)]
        assert all(reply["ok"] for reply in replies.values()), replies
        offsets = [replies[f"b{i}"]["offset"] for i in range(7)]
        assert offsets == sorted(offsets) and len(set(offsets)) == 7
    finally:
        client.close()


def test_a_frame_cut_into_single_bytes_is_read_whole(start_server) -> None:  # type: ignore[no-untyped-def]
    """A command sent one byte per write, then one sent whole: both answered."""
    server = start_server(**OPEN)
    client = _joined(server, "trickle")
    try:
        for byte in client_frame(TEXT, _comment("t1", "one byte at a time")):
            client.sock.sendall(bytes([byte]))
        client.sock.sendall(client_frame(TEXT, _comment("t2", "whole")))
        replies = _replies(client, ["t1", "t2"])
        assert replies["t1"]["ok"] and replies["t2"]["ok"]
        # a 300-byte command needs the 16-bit length: cut inside the length, then inside the mask
        wire = client_frame(TEXT, _comment("t3", "x" * 300))
        for cut in (wire[:3], wire[3:6], wire[6:]):
            client.sock.sendall(cut)
        assert _replies(client, ["t3"])["t3"]["ok"]
    finally:
        client.close()


def _sized(rid: str, size: int, char: str = "x") -> bytes:
    """A comment command of exactly ``size`` bytes, its text made of ``char``."""
    base = len(_comment(rid, ""))
    width = len(char.encode())
    assert (size - base) % width == 0, (size, base, width)
    body = _comment(rid, char * ((size - base) // width))
    assert len(body) == size
    return body


def test_commands_of_each_length_form_cut_anywhere(start_server) -> None:  # type: ignore[no-untyped-def]
    """Commands whose payloads sit either side of the 7-bit and 16-bit length forms (125,
    126, 127 bytes and a few hundred), in Chinese text too, one with the all-zero mask, sent
    in one stream cut at seeded random points: each is answered once, with the text it
    carried (the sizes are of the payloads: 38 bytes of JSON around the text)."""
    server = start_server(**OPEN)
    client = _joined(server, "lengths", "lengths")
    watcher = _joined(server, "lengths-watch", "lengths")
    try:
        sizes = [(125, "x"), (126, "x"), (127, "x"), (59, "长"), (299, "长"), (125, "长")]
        bodies = {f"l{i}": _sized(f"l{i}", size, char) for i, (size, char) in enumerate(sizes)}
        wire = b"".join(client_frame(TEXT, body) for body in bodies.values())
        zero = _comment("l-zero", "all-zero mask")
        wire += bytes([0x81, 0x80 | len(zero)]) + b"\x00\x00\x00\x00" + zero
        bodies["l-zero"] = zero
        rng = random.Random(2026)
        cuts = sorted(rng.sample(range(1, len(wire)), 40))
        # and a 16-bit one cut inside its header: after its first, second and third byte
        last = _sized("l-head", 200)
        bodies["l-head"] = last
        tail = client_frame(TEXT, last)
        wire += tail
        cuts += [len(wire) - len(tail) + at for at in (1, 2, 3)]
        for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
            client.sock.sendall(wire[start:end])
        replies = _replies(client, list(bodies))
        assert all(reply["ok"] for reply in replies.values()), replies
        texts: dict[int, str] = {}  # a tick's frame may carry several comments
        deadline = time.monotonic() + scaled(10)
        while len(texts) < len(bodies) and time.monotonic() < deadline:
            frame = watcher.read_frame(max(0.01, deadline - time.monotonic()))
            assert frame is not None and frame[0] != CLOSE, frame
            if frame[0] == TEXT:
                for event in orjson.loads(frame[1]):
                    if event.get("type") == "comment":
                        texts[event["offset"]] = event["text"]
        for rid, body in bodies.items():
            assert texts[replies[rid]["offset"]] == orjson.loads(body)["text"], rid
    finally:
        client.close()
        watcher.close()


def test_a_command_with_a_64_bit_length_is_read(start_server) -> None:  # type: ignore[no-untyped-def]
    """A command of 70,000 bytes takes the 64-bit length form: read whole over many reads and
    answered (refused as too long a comment, which it is)."""
    server = start_server(**OPEN, max_frame_bytes=100_000)
    client = _joined(server, "long")
    try:
        wire = client_frame(TEXT, _sized("g1", 70_000))
        assert wire[1] == 0x80 | 127
        for start in range(0, len(wire), 9_000):
            client.sock.sendall(wire[start : start + 9_000])
        reply = _replies(client, ["g1"])["g1"]
        assert not reply["ok"] and reply["error"]["code"] == "too_long", reply
    finally:
        client.close()


@pytest.mark.parametrize(("limit", "size"), [(200, 300), (60, 100)])
def test_a_frame_over_the_limit_closes_before_its_payload(start_server, limit, size) -> None:  # type: ignore[no-untyped-def]
    """A text frame whose length (16-bit, then 7-bit) passes ``max_frame_bytes`` closes with
    1009 from its header alone, after the reply to the command before it: the node does not
    wait for a payload it will refuse."""
    server = start_server(**OPEN, max_frame_bytes=limit)
    client = _joined(server, "over")
    try:
        big = client_frame(TEXT, _sized("o2", size))
        client.sock.sendall(client_frame(TEXT, _comment("o1", "fits")) + big[:10])
        seen = _until_close(client)
        assert [item["id"] for opcode, item in seen if opcode == TEXT] == ["o1"], seen
        assert seen[-1][0] == CLOSE and seen[-1][1][:2] == (1009).to_bytes(2, "big"), seen
    finally:
        client.close()


def test_invalid_utf8_closes_with_1007(start_server) -> None:  # type: ignore[no-untyped-def]
    """A text frame that is not UTF-8, alone or between good commands in the same write: the
    connection closes with 1007, after the reply to the command before it; the command after
    it is not taken."""
    server = start_server(**OPEN)
    bad = client_frame(TEXT, b'{"type":"comment","text":"\xff"}')
    good = client_frame(TEXT, _comment("u1", "fine"))
    after = client_frame(TEXT, _comment("u2", "too late"))
    for user, wire, answered in (("badtext", bad, []), ("goodbad", good + bad + after, ["u1"])):
        client = _joined(server, user)
        try:
            client.sock.sendall(wire)
            seen = _until_close(client)
            assert [item["id"] for opcode, item in seen if opcode == TEXT] == answered, seen
            assert seen[-1][0] == CLOSE and seen[-1][1][:2] == (1007).to_bytes(2, "big"), seen
        finally:
            client.close()


def test_an_unmasked_frame_closes_with_1002_after_the_replies(start_server) -> None:  # type: ignore[no-untyped-def]
    """Clients must mask: an unmasked frame is a protocol error. Commands in the same write
    ahead of it are answered first; a text frame that is not UTF-8 between them and the
    unmasked frame is dropped, and the close stays 1002 (the parser's, found first)."""
    server = start_server(**OPEN)
    payload = _comment("n0", "no mask")
    unmasked = client_frame(TEXT, payload, mask=False)
    bad_text = client_frame(TEXT, b'{"type":"comment","text":"\xff"}')
    for user, extra in (("nomask-late", b""), ("nomask-utf8", bad_text)):
        client = _joined(server, user)
        try:
            ids = ["m1", "m2"]
            wire = b"".join(
                client_frame(TEXT, _comment(rid, f"masked {rid} {user}")) for rid in ids
            )
            client.sock.sendall(wire + extra + unmasked)
            seen = _until_close(client)
            assert sorted(item["id"] for opcode, item in seen if opcode == TEXT) == ids, seen
            assert seen[-1][0] == CLOSE and seen[-1][1][:2] == (1002).to_bytes(2, "big"), seen
        finally:
            client.close()


def test_an_unmasked_frame_closes_with_1002(start_server) -> None:  # type: ignore[no-untyped-def]
    """Clients must mask: an unmasked frame is a protocol error."""
    server = start_server(**OPEN)
    client = _joined(server, "nomask")
    try:
        payload = _comment("n1", "no mask")
        client.sock.sendall(client_frame(TEXT, payload, mask=False))
        assert _close_code(client) == 1002
    finally:
        client.close()


def _until_close(client: RawSocketClient) -> list[tuple[int, Any]]:
    """What came back, in order, up to and with the server's Close: (TEXT, the reply) or
    (opcode, payload) of a control frame. The server must then end the connection."""
    seen: list[tuple[int, Any]] = []
    deadline = time.monotonic() + scaled(10)
    while time.monotonic() < deadline:
        frame = client.read_frame(max(0.01, deadline - time.monotonic()))
        assert frame is not None, f"ended without a Close; got {seen}"
        opcode, payload = frame
        if opcode == TEXT:
            seen += [(TEXT, e) for e in orjson.loads(payload) if e.get("type") == "reply"]
            continue
        seen.append((opcode, payload))
        if opcode == CLOSE:
            client.sock.settimeout(scaled(10))
            assert client.sock.recv(1) == b"", "data after the Close"  # not a timeout either
            return seen
    raise AssertionError(f"no Close within the time; got {seen}")


def _leave_after(client: RawSocketClient, ids: list[str], ping: bool) -> list[tuple[int, Any]]:
    """Send comments ``ids`` (then a ping, if asked) and a Close in one write; return what
    came back, in order, up to the server's end of the connection: (opcode, the reply, or the
    payload of a control frame)."""
    wire = b"".join(client_frame(TEXT, _comment(rid, f"last words {rid}")) for rid in ids)
    if ping:
        wire += client_frame(PING, b"are you there")
    wire += client_frame(CLOSE, (1000).to_bytes(2, "big") + b"bye")
    client.sock.sendall(wire)
    return _until_close(client)


@pytest.mark.parametrize("window_ms", [0, 300])
def test_a_close_after_commands_in_one_write(start_server, window_ms) -> None:  # type: ignore[no-untyped-def]
    """Commands, then a Close, in the same write: every command read before the Close is
    answered, and only then is the Close echoed with its code; the server then ends the
    connection. With a ping between the commands and the Close, the pong comes just before
    the echo, not with the Close ahead of the replies. So too when the commands wait for the
    node's gather window (300 ms) before they start."""
    server = start_server(**OPEN, command_gather_ms=window_ms)
    for ping in (False, True):
        client = _joined(server, f"leaving-{ping}")
        try:
            ids = [f"l{n}" for n in range(5)]
            seen = _leave_after(client, ids, ping)
            replies = [item for opcode, item in seen if opcode == TEXT]
            assert sorted(reply["id"] for reply in replies) == ids, seen
            assert all(reply["ok"] for reply in replies), replies
            tail = [(PONG, b"are you there")] if ping else []
            assert seen[len(ids) :] == [*tail, (CLOSE, (1000).to_bytes(2, "big") + b"bye")], seen
        finally:
            client.close()


@pytest.mark.parametrize("engine", ["memory", "redis"])
def test_a_session_closed_by_the_server_while_a_close_waits(start_server, request, engine) -> None:  # type: ignore[no-untyped-def]
    """The commands are a flood, followed by the client's Close in the same write; the server
    ends the session itself. Exactly one Close comes back, and the connection ends at once,
    with no wait for a timeout.

    On Redis the commands wait on the engine, so the client's Close is read while they run
    and is held for their replies: the flood then lets the held echo out, not a Close of our
    own. On the memory engine each command is answered where it is read (``Engine.
    starts_in_place``), so the flood is found before the Close is read and the server's 4029
    goes out; the client's Close then completes the handshake. If the bytes come in before
    the session took over the connection, the Close is held there too, and it is the echo."""
    where = request.getfixturevalue("redis_server_settings") if engine == "redis" else {}
    server = start_server(**{**OPEN, **where, "command_rate": 1, "command_burst": 2})
    client = _joined(server, "flooder")
    try:
        began = time.monotonic()
        seen = _leave_after(client, [f"f{n}" for n in range(8)], ping=False)
        closes = [item for opcode, item in seen if opcode == CLOSE]
        echo, flood = (1000).to_bytes(2, "big") + b"bye", (4029).to_bytes(2, "big")
        if engine == "redis":
            assert closes == [echo], seen
        else:
            assert len(closes) == 1 and (closes[0] == echo or closes[0][:2] == flood), seen
        assert time.monotonic() - began < 4.0, "the echo waited for the grace to run out"
    finally:
        client.close()


def _answer_pings(client: RawSocketClient, count: int, payload_of: Any) -> int:
    """Answer ``count`` server pings with ``payload_of(ping payload)``; return pings answered
    before the connection closed, if it did."""
    answered = 0
    deadline = time.monotonic() + scaled(15)
    while answered < count and time.monotonic() < deadline:
        frame = client.read_frame(max(0.01, deadline - time.monotonic()))
        if frame is None or frame[0] == CLOSE:
            return answered
        if frame[0] == PING:
            client.sock.sendall(client_frame(PONG, payload_of(frame[1])))
            answered += 1
    return answered


def test_pongs_keep_a_connection_open(start_server) -> None:  # type: ignore[no-untyped-def]
    """With pings every second and a second to answer, a client that answers three pings is
    still there and its commands are answered."""
    server = start_server(ping_interval_s=1, **OPEN)
    client = _joined(server, "pong")
    try:
        assert _answer_pings(client, 3, lambda payload: payload) == 3
        client.sock.sendall(client_frame(TEXT, _comment("p1", "still here")))
        assert _replies(client, ["p1"])["p1"]["ok"]
    finally:
        client.close()


def test_a_wrong_pong_does_not_count(start_server) -> None:  # type: ignore[no-untyped-def]
    """A pong that does not carry the ping's payload is ignored: the ping it answered times
    out (4002) before another ping comes. Had it counted, the next ping would come first."""
    server = start_server(ping_interval_s=1, **OPEN)
    client = _joined(server, "wrongpong")
    try:
        assert _answer_pings(client, 1, lambda payload: b"not-" + payload) == 1
        deadline = time.monotonic() + scaled(10)
        control = None
        while control is None and time.monotonic() < deadline:
            frame = client.read_frame(max(0.01, deadline - time.monotonic()))
            if frame is None or frame[0] in (PING, CLOSE):
                control = frame
        assert control is not None and control[0] == CLOSE, control
        assert int.from_bytes(control[1][:2], "big") == 4002
    finally:
        client.close()


def test_only_a_connection_heard_from_for_an_interval_is_pinged(start_server) -> None:  # type: ignore[no-untyped-def]
    """The node's keep-alive sweep pings a connection it has heard nothing from since the last
    ping round: a client that comments every 0.1 s gets no ping, while a silent client in the
    same room gets one each interval and stays by answering it. The silent client's pongs go
    in one write with a comment, so the pong is cut from a read that also holds a command."""
    server = start_server(ping_interval_s=1, **OPEN)
    talker = _joined(server, "talker")
    silent = _joined(server, "silent")
    answered: set[str] = set()

    def take(frame: tuple[int, bytes]) -> None:
        assert frame[0] != CLOSE, frame
        if frame[0] == TEXT:
            for event in orjson.loads(frame[1]):
                if event.get("type") == "reply":
                    assert event["ok"], event
                    answered.add(event["id"])

    try:
        talker_pings = pongs = sent = 0
        deadline = time.monotonic() + scaled(15)
        while pongs < 3:
            assert time.monotonic() < deadline, f"{pongs} pings answered in time"
            talker.sock.sendall(client_frame(TEXT, _comment(f"t{sent}", f"talking {sent}")))
            sent += 1
            stop = time.monotonic() + 0.1
            while (left := stop - time.monotonic()) > 0:
                frame = silent.read_frame(left)
                if frame is None:
                    break
                take(frame)
                if frame[0] == PING:
                    answer = client_frame(PONG, frame[1])
                    silent.sock.sendall(
                        answer + client_frame(TEXT, _comment(f"s{pongs}", f"hi {pongs}"))
                    )
                    pongs += 1
            while (frame := talker.read_frame(0.001)) is not None:
                take(frame)
                talker_pings += frame[0] == PING
        assert talker_pings == 0
        # every comment of both answered: no connection was closed. A reply comes only to its
        # sender, so each client is read for its own ids; now that both are quiet, the sweep
        # pings them, and the pings are answered so that a slow drain cannot time one out
        own = {
            talker: {f"t{n}" for n in range(sent)},
            silent: {f"s{n}" for n in range(pongs)},
        }
        for client, expected in own.items():
            while not expected <= answered and (frame := client.read_frame(scaled(2))):
                take(frame)
                if frame[0] == PING:
                    client.sock.sendall(client_frame(PONG, frame[1]))
            assert expected <= answered, sorted(expected - answered)
    finally:
        talker.close()
        silent.close()


def test_a_session_that_paused_its_reading_reads_again(start_server, redis_server_settings) -> None:  # type: ignore[no-untyped-def]
    """A hundred commands in one write: on Redis each one waits on the engine, so they pile up
    in the session's inbox, which stops reading from the socket past 32 of them. Once the
    pile is worked down, the session reads again: a command sent after the last reply is
    answered too. (Sent right after the snapshot, the pile may also come in before the
    session takes the connection over: the reading stays stopped through the takeover.)"""
    server = start_server(**{**OPEN, **redis_server_settings})
    client = _joined(server, "piler")
    try:
        ids = [f"p{n}" for n in range(100)]
        client.sock.sendall(
            b"".join(client_frame(TEXT, _comment(rid, f"pile {rid}")) for rid in ids)
        )
        replies = _replies(client, ids)
        assert all(reply["ok"] for reply in replies.values()), replies
        client.sock.sendall(client_frame(TEXT, _comment("after", "after the pile")))
        assert _replies(client, ["after"])["after"]["ok"]
    finally:
        client.close()
