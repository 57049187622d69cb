"""Edge cases of input, each once broken (issue 19): Unicode digits, ids with a trailing
newline, invisible comments, frames that are JSON but not an object, integer request ids,
anonymous viewers' role. Each gets its documented answer and the connection or room lives on."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx
import orjson
import pytest
import websockets

from liveroom import auth
from liveroom.protocol import ROLE_RANK
from tests.liveclient import LiveClient, join_url, token
from tests.protocol.protocol_doc import DOC
from tests.servers import API_KEY, ServerProcess
from tests.timeouts import eventually, scaled
from tests.wsraw import RawSocketClient

BACKEND = {"Authorization": f"Bearer {API_KEY}"}

#: digits str.isdigit() and int() take, and the ASCII-only rule refuses: superscript two,
#: circled one, Arabic-Indic three, fullwidth three, Devanagari one
UNICODE_DIGITS = ["²", "①", "٣", "３", "१", "1٣"]


async def _refused_with(url: str, code: int) -> dict[str, object]:
    client = LiveClient(await websockets.connect(url, open_timeout=scaled(10)))
    closed, _ = await client.closed_with()
    errors = client.of_type("error")
    await client.close()
    assert closed == code, (url, closed, client.events)
    assert errors, client.events
    return errors[0]


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
async def test_offset_of_unicode_digits_closes_4000(
    server: ServerProcess, room: str, digits: str
) -> None:
    """``offset`` takes ASCII digits only: any other digit gets ``bad_request`` and close 4000."""
    url = join_url(server.ws_url, room, "alice") + "&offset=" + quote(digits)
    error = await _refused_with(url, 4000)
    assert error["code"] == "bad_request"
    # the node is fine, and an ASCII offset still resumes
    ok = await LiveClient.connect(server.ws_url, room, "alice", offset=0)
    assert (await ok.event("welcome"))["room"] == room
    await ok.close()


async def test_room_id_with_trailing_newline_closes_4000(server: ServerProcess) -> None:
    """A room id is matched whole: ``abc\\n`` is malformed, not ``abc``."""
    url = server.ws_url + "?room=" + quote("abc\n") + "&token=" + token("alice", "*")
    error = await _refused_with(url, 4000)
    assert error["code"] == "bad_request"


async def test_token_sub_with_trailing_newline_is_refused_over_http(
    server: ServerProcess, room: str
) -> None:
    """Over HTTP, a bearer token whose ``sub`` ends in a newline is ``unauthorized``."""
    bearer = {"Authorization": f"Bearer {token('alice' + chr(10), room, role='host')}"}
    async with httpx.AsyncClient(base_url=server.url, headers=bearer, timeout=10) as http:
        answer = await http.get(f"/api/rooms/{room}/stats")
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthorized"


async def test_token_sub_with_trailing_newline_closes_4001(
    server: ServerProcess, room: str
) -> None:
    """A token whose ``sub`` ends in a newline has malformed claims: close 4001."""
    url = join_url(server.ws_url, room, None, tok=token("alice\n", room))
    error = await _refused_with(url, 4001)
    assert error["code"] == "unauthorized"


#: one command per id kind, each with an id that ends in a newline
NEWLINE_COMMANDS = [
    ("buy", {"sale": "s1\n", "quantity": 1, "request_id": "tap1"}),
    ("buy", {"sale": "s1", "quantity": 1, "request_id": "tap\n"}),
    ("cancel_order", {"sale": "s1\n", "order": "o1"}),
    ("cancel_order", {"sale": "s1", "order": "o1\n"}),
    ("bag_join", {"bag": "b1\n"}),
    ("packet_grab", {"packet": "p1\n"}),
    ("card_click", {"sku": "k1\n"}),
    ("card_pin", {"sku": "k1\n", "title": "Tea", "price": 100, "image": "/tea.svg"}),
    ("card_pin", {"sku": "k1", "title": "Tea", "price": 100, "image": "/tea.svg", "sale": "s\n"}),
    ("card_pin", {"sku": "k1", "title": "Tea", "price": 100, "image": "/tea.svg\n"}),
    ("mute", {"user": "u1\n", "seconds": 60}),
    ("unmute", {"user": "u1\n"}),
]


async def test_command_ids_with_trailing_newline_are_bad_requests(
    server: ServerProcess, room: str
) -> None:
    """Sale, order, request, bag, packet, card and user ids in commands are matched whole."""
    host = await LiveClient.connect(server.ws_url, room, "hana", role="host")
    await host.event("snapshot")
    for kind, fields in NEWLINE_COMMANDS:
        answer = await host.command(kind, **fields)
        assert answer["ok"] is False, (kind, fields, answer)
        assert answer["error"]["code"] == "bad_request", (kind, fields, answer)
    assert (await host.command("ping"))["ok"] is True
    await host.close()


#: (method, path, body) of HTTP routes, each naming an id that ends in a newline
NEWLINE_ROUTES = [
    ("GET", "/api/rooms/{bad}/stats", None),
    ("GET", "/api/rooms/{bad}", None),
    ("GET", "/api/rooms/{room}/sales/{bad}", None),
    ("GET", "/api/rooms/{room}/sales/s1/orders/{bad}", None),
    ("POST", "/api/rooms/{room}/sales/s1/orders/{bad}/confirm", None),
    ("GET", "/api/rooms/{room}/bags/{bad}", None),
    ("GET", "/api/rooms/{room}/packets/{bad}", None),
    ("DELETE", "/api/rooms/{room}/cards/{bad}", None),
    ("DELETE", "/api/rooms/{room}/mutes/{bad}", None),
    ("POST", "/api/rooms/{room}/sales", {"id": "s1\n", "sku": "k", "title": "t", "price": 1,
                                         "stock": 1}),
    ("POST", "/api/rooms/{room}/sales", {"id": "s1", "sku": "k\n", "title": "t", "price": 1,
                                         "stock": 1}),
    ("POST", "/api/rooms/{room}/mutes", {"user": "u1\n", "seconds": 60}),
    ("POST", "/api/rooms/{room}/sales/s1/buy", {"user": "u1", "request_id": "tap\n"}),
    ("POST", "/api/rooms/{room}/sales/s1/buy", {"user": "u1\n", "request_id": "tap1"}),
    ("POST", "/api/rooms/{room}/bags/b1/join", {"user": "u1\n"}),
    ("POST", "/api/rooms/{room}/packets/p1/grab", {"user": "u1\n"}),
    ("POST", "/api/tokens", {"user": "u1\n", "room": "r1"}),
    ("POST", "/api/tokens", {"user": "u1", "room": "r1\n"}),
]  # fmt: skip


async def test_route_ids_with_trailing_newline_are_bad_requests(
    server: ServerProcess, room: str
) -> None:
    """Room, sale, order, bag, packet, card and user ids in HTTP paths and bodies are matched
    whole: a trailing newline is ``bad_request`` (400), never a lookup of another id."""
    bad = quote("x1\n", safe="")
    async with httpx.AsyncClient(base_url=server.url, headers=BACKEND, timeout=10) as http:
        for method, path, body in NEWLINE_ROUTES:
            url = path.format(room=room, bad=bad)
            answer = await http.request(method, url, json=body)
            assert answer.status_code == 400, (method, url, body, answer.text)
            assert answer.json()["error"]["code"] == "bad_request", (method, url, answer.text)


INVISIBLE = [
    "\u200b",  # zero width space
    "\u200b\u200c\u200d",  # and the zero width (non-)joiners
    "\u2060\ufeff",  # word joiner, zero width no-break space
    "\u00ad",  # soft hyphen
    "\ufe0f\ufe0e",  # variation selectors
    "\U000e0100",  # a supplementary variation selector
    "\u200e\u200f",  # direction marks
    "\u2062\u2064",  # invisible times, invisible plus
    " \u200b\u3000\u2028 ",  # mixed with spaces and a line separator
    "\u0007\u0000",  # control characters
    "\U000e0001\U000e0041",  # language tags
]


async def test_invisible_comment_is_refused_as_empty(server: ServerProcess, room: str) -> None:
    """A comment of only invisible characters is ``empty``, like a blank one; visible text with
    a joiner in it (an emoji sequence) still goes out."""
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    await alice.event("snapshot")
    for text in INVISIBLE:
        answer = await alice.command("comment", text=text)
        assert answer["ok"] is False, (text.encode("unicode_escape"), answer)
        assert answer["error"]["code"] == "empty", (text.encode("unicode_escape"), answer)
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert (await alice.command("comment", text=family))["ok"] is True
    await alice.event("comment", text=family)
    assert not [e for e in alice.of_type("comment") if e["text"] in INVISIBLE]
    await alice.close()


@pytest.mark.parametrize("body", ["[1, 2]", "42", '"ping"', "null", "true"])
async def test_json_that_is_not_an_object_gets_bad_json(
    server: ServerProcess, room: str, body: str
) -> None:
    """A frame that is JSON but not an object answers ``bad_json``, as the table says."""
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    await alice.event("snapshot")
    await alice.send_raw(body)
    answer = await alice.event("reply", ok=False)
    assert answer["error"]["code"] == "bad_json" and answer["id"] is None, answer
    assert (await alice.command("ping"))["ok"] is True
    await alice.close()


async def test_integer_request_id_is_echoed_as_the_same_integer(
    server: ServerProcess, room: str
) -> None:
    """An integer request id comes back as that integer, not as a string; an error reply too."""
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    await alice.event("snapshot")
    await alice.send_raw(orjson.dumps({"type": "ping", "id": 7}))
    await alice.send_raw(orjson.dumps({"type": "comment", "id": 8, "text": ""}))
    await alice.send_raw(orjson.dumps({"type": "ping", "id": "7"}))
    replies = await alice.wait(lambda: len(alice.of_type("reply")) >= 3 and alice.of_type("reply"))
    ids = [r["id"] for r in replies]
    assert ids == [7, 8, "7"], replies
    assert replies[1]["error"]["code"] == "empty"
    await alice.close()


@pytest.mark.parametrize("rid", [True, 1.5, 2**53, -(2**53), ""])
async def test_unusable_request_id_is_refused(
    server: ServerProcess, room: str, rid: object
) -> None:
    """Booleans, fractions, integers past JavaScript's safe range and empty strings are not
    request ids: ``bad_request`` with ``id: null``."""
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    await alice.event("snapshot")
    await alice.send_raw(orjson.dumps({"type": "ping", "id": rid}))
    answer = await alice.event("reply", ok=False)
    assert answer["error"]["code"] == "bad_request" and answer["id"] is None, answer
    await alice.close()


async def test_anonymous_viewer_is_welcomed_with_role_anonymous(
    server: ServerProcess, room: str
) -> None:
    """Without a token the welcome says ``role: anonymous`` (a documented role) and only
    ``ping`` is allowed."""
    guest = await LiveClient.connect(server.ws_url, room, None)
    welcome = await guest.event("welcome")
    assert welcome["role"] == "anonymous"
    assert (await guest.command("comment", text="hi"))["error"]["code"] == "read_only"
    assert (await guest.command("ping"))["ok"] is True
    await guest.close()


async def test_stats_route_calls_the_peak_peak(server: ServerProcess, room: str) -> None:
    """``GET …/stats`` names the peak ``peak``, as the snapshot and ``stats`` events do; the
    old name ``peak_online`` stays as an alias of the same number."""
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    snapshot = await alice.event("snapshot")
    async with httpx.AsyncClient(base_url=server.url, headers=BACKEND, timeout=10) as http:

        async def counted() -> dict[str, object] | None:
            body: dict[str, object] = (await http.get(f"/api/rooms/{room}/stats")).json()
            return body if body.get("peak") == 1 else None

        body = await eventually(counted, timeout=5)
    assert body["peak_online"] == body["peak"] == 1
    assert "peak" in snapshot
    await alice.close()


async def test_client_that_never_answers_pings_is_closed_4002(start_server) -> None:  # type: ignore[no-untyped-def]
    """A client that answers no ping is closed with 4002 "ping timeout", not 1011."""
    server = start_server(ping_interval_s=0.3)
    raw = RawSocketClient(server.port, "/ws?" + join_url("", "pt", "alice").split("?", 1)[1])
    try:
        code, frames = await asyncio.to_thread(raw.read_until_close, scaled(10))
    finally:
        raw.close()
    assert code == 4002, (code, frames)


async def test_http_body_that_is_not_an_object_gets_bad_json(
    server: ServerProcess, room: str
) -> None:
    """Over HTTP too, a body that is JSON but not an object is ``bad_json``, as on the wire."""
    async with httpx.AsyncClient(base_url=server.url, headers=BACKEND, timeout=10) as http:
        for body in (b"[1, 2]", b"42", b'"hi"'):
            answer = await http.post(f"/api/rooms/{room}/system", content=body)
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["code"] == "bad_json", answer.text


def test_every_role_a_welcome_can_carry_is_documented() -> None:
    """The welcome's ``role`` is one of the token roles or ``anonymous``; the docs name each."""
    welcome = DOC.split("### `snapshot`", 1)[0].split("## Joining", 1)[1]
    roles = [*ROLE_RANK, auth.anonymous().role]
    assert roles[-1] == "anonymous"
    for role in roles:
        assert f"`{role}`" in welcome, f"the welcome's role {role!r} is not documented"
