"""Bad input gets its documented error or close code; the room keeps working for others."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from tests.liveclient import LiveClient, token
from tests.servers import API_KEY, ServerProcess
from tests.timeouts import scaled


async def _room_still_works(sender: LiveClient, watcher: LiveClient, text: str) -> None:
    answer = await sender.command("comment", text=text)
    assert answer["ok"] is True, answer
    await watcher.event("comment", text=text)


async def test_malformed_json_gets_bad_json(server: ServerProcess, room: str) -> None:
    """A frame that is not JSON is answered with ``bad_json`` and the connection stays up."""
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    bob = await LiveClient.connect(server.ws_url, room, "bob")
    await alice.event("snapshot")
    await bob.event("snapshot")
    await alice.send_raw("{this is not json")
    error = await alice.event("reply", ok=False)
    assert error["error"]["code"] == "bad_json"
    await _room_still_works(alice, bob, "after bad json")
    await alice.close()
    await bob.close()


async def test_unknown_type_gets_unknown_type(server: ServerProcess, room: str) -> None:
    """A command type the server does not know is answered with ``unknown_type`` and its id."""
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    bob = await LiveClient.connect(server.ws_url, room, "bob")
    await alice.event("snapshot")
    answer = await alice.command("teleport", to="mars")
    assert answer["ok"] is False
    assert answer["error"]["code"] == "unknown_type"
    await _room_still_works(alice, bob, "after unknown type")
    await alice.close()
    await bob.close()


async def test_missing_request_id_gets_bad_request(server: ServerProcess, room: str) -> None:
    """A command without an id cannot be answered by id: it gets ``bad_request``."""
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    await alice.event("snapshot")
    await alice.send_raw(orjson.dumps({"type": "comment", "text": "hi"}).decode())
    error = await alice.event("reply", ok=False)
    assert error["error"]["code"] == "bad_request"
    await alice.close()


async def test_oversized_frame_closes_1009(server: ServerProcess, room: str) -> None:
    """A frame above ``max_frame_bytes`` closes that connection with 1009; others carry on."""
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    bob = await LiveClient.connect(server.ws_url, room, "bob")
    await alice.event("snapshot")
    await bob.event("snapshot")
    big = orjson.dumps({"type": "comment", "id": "x", "text": "a" * 10_000}).decode()
    await alice.send_raw(big)
    code, _ = await alice.closed_with()
    assert code == 1009
    carol = await LiveClient.connect(server.ws_url, room, "carol")
    await carol.event("snapshot")
    await _room_still_works(carol, bob, "after big frame")
    await bob.close()
    await carol.close()


async def test_too_long_comment_gets_too_long(server: ServerProcess, room: str) -> None:
    """A comment above the length limit (but inside the frame limit) is refused with a code."""
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    await alice.event("snapshot")
    answer = await alice.command("comment", text="长" * 201)
    assert answer["error"]["code"] == "too_long"
    empty = await alice.command("comment", text="   ")
    assert empty["error"]["code"] == "empty"
    await alice.close()


async def test_viewer_sending_host_command_is_forbidden(server: ServerProcess, room: str) -> None:
    """A viewer's ``system`` and ``mute`` commands get ``forbidden``; nothing is published."""
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    bob = await LiveClient.connect(server.ws_url, room, "bob")
    await alice.event("snapshot")
    system = await alice.command("system", text="free money")
    assert system["error"]["code"] == "forbidden"
    mute = await alice.command("mute", user="bob", seconds=60)
    assert mute["error"]["code"] == "forbidden"
    await _room_still_works(bob, alice, "bob can still talk")
    assert not bob.of_type("system")
    await alice.close()
    await bob.close()


async def test_command_flood_is_limited_then_closed(server: ServerProcess, room: str) -> None:
    """A flood gets ``rate_limited`` replies, then close 4029; other viewers keep receiving."""
    flooder = await LiveClient.connect(server.ws_url, room, "flooder")
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    bob = await LiveClient.connect(server.ws_url, room, "bob")
    await flooder.event("snapshot")
    await bob.event("snapshot")
    for n in range(400):
        try:
            await flooder.send_raw(orjson.dumps({"type": "ping", "id": f"f{n}"}).decode())
        except Exception:
            break
    code, _ = await flooder.closed_with()
    assert code == 4029
    limited = [e for e in flooder.events if e.get("type") == "reply" and not e["ok"]]
    assert limited and all(e["error"]["code"] == "rate_limited" for e in limited)
    await _room_still_works(alice, bob, "after the flood")
    await alice.close()
    await bob.close()


async def test_bad_room_id_closes_4000(server: ServerProcess) -> None:
    """A malformed room id is refused at connect with an error event and close 4000."""
    client = await LiveClient.connect(server.ws_url, "bad$room", None, tok=token("a", "x"))
    code, _ = await client.closed_with()
    assert code == 4000
    assert client.of_type("error")[0]["code"] == "bad_request"


async def _raw_http(server: ServerProcess, head: bytes, body: bytes = b"") -> bytes:
    """One request written as bytes, and the response's head, read within a deadline."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head + body)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(10))
    finally:
        writer.close()


async def test_a_body_declared_too_large_is_refused_before_it_is_sent(
    server: ServerProcess, room: str
) -> None:
    """A request that declares a body over the 64 KiB limit is refused at once, without the
    server waiting for (and holding) the body: it used to read the whole body first."""
    head = (
        f"POST /api/rooms/{room}/system HTTP/1.1\r\nhost: x\r\n"
        f"authorization: Bearer {API_KEY}\r\ncontent-type: application/json\r\n"
        "content-length: 100000000\r\n\r\n"
    ).encode()
    answer = await _raw_http(server, head)
    assert answer.startswith(b"HTTP/1.1 400"), answer


async def test_a_chunked_body_is_refused_once_past_the_limit(
    server: ServerProcess, room: str
) -> None:
    """A body sent without a declared length (chunked) is refused once it passes 64 KiB."""
    head = (
        f"POST /api/rooms/{room}/system HTTP/1.1\r\nhost: x\r\n"
        f"authorization: Bearer {API_KEY}\r\ncontent-type: application/json\r\n"
        "transfer-encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"x" * 16384
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
    answer = await _raw_http(server, head, body)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    async with httpx.AsyncClient(base_url=server.url) as http:  # the node serves on
        fine = await http.post(
            f"/api/rooms/{room}/system",
            json={"text": "still here"},
            headers={"authorization": f"Bearer {API_KEY}"},
        )
    assert fine.status_code == 200, fine.text
