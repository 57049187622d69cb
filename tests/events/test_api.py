"""The feed's HTTP API and its faults, on a memory-engine node (which delivers the same way,
from one process): endpoints and their checks (SSRF), secrets never shown nor logged, 4xx to
the dead letter at once, redirects retried and never followed, replay, a hanging receiver
that does not slow the room, and the console's health route."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from liveroom.features.events.endpoints import new_secret
from tests.events.receiver import Receiver
from tests.flashsale.conftest import BACKEND, bearer, sale_body
from tests.servers import ServerProcess
from tests.timeouts import eventually

SETTINGS: dict[str, object] = {
    "engine": "memory",
    "feed_timeout_s": 0.3,
    "feed_backoff_s": 0.01,
    "feed_backoff_max_s": 0.05,
    "feed_attempts": 3,
    "feed_poll_s": 0.05,
}


@pytest.fixture
async def node(start_server: Any) -> AsyncIterator[tuple[ServerProcess, httpx.AsyncClient]]:
    server = start_server(**SETTINGS)
    async with httpx.AsyncClient(base_url=server.url, headers=BACKEND, timeout=10) as http:
        yield server, http


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    secret = new_secret()
    recv = await Receiver(secret).start()
    recv.secret = secret  # type: ignore[attr-defined]
    yield recv
    await recv.stop()


async def add(http: httpx.AsyncClient, url: str, secret: str, **more: Any) -> httpx.Response:
    return await http.post("/api/feed/endpoints", json={"url": url, "secret": secret, **more})


async def buy(http: httpx.AsyncClient, room: str, user: str) -> httpx.Response:
    return await http.post(
        f"/api/rooms/{room}/sales/s1/buy",
        json={"quantity": 1, "request_id": "k"},
        headers=bearer(user, room),
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "http or https"),
        ("ftp://example.com/x", "http or https"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://100.100.100.200/", "metadata"),
        ("http://metadata.google.internal/computeMetadata", "metadata"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://0.0.0.0/", "unicast"),
        ("http://user:pw@example.com/", "credentials"),
        ("http:///nohost", "no host"),
        ("http://a..b/", "not a valid host name"),
        ("http://" + "x" * 64 + ".example/", "not a valid host name"),
    ],
)
async def test_refused_urls_are_a_clear_400(node: Any, url: str, why: str) -> None:
    """Not http(s), link-local, metadata, unspecified, credentials: ``bad_endpoint``."""
    _, http = node
    reply = await add(http, url, new_secret())
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "bad_endpoint" and why in error["message"]


async def test_bad_secrets_rooms_and_types_are_refused(node: Any) -> None:
    """A secret not in whsec_ form, a bad room id or event type, an unknown field: 400."""
    _, http = node
    url = "http://127.0.0.1:9/hook"
    for body in (
        {"secret": "plain"},
        {"secret": "whsec_!!!"},
        {"secret": "whsec_c2hvcnQ="},
        {"secret": new_secret(), "rooms": ["bad room"]},
        {"secret": new_secret(), "rooms": []},
        {"secret": new_secret(), "types": ["Order Paid"]},
        {"secret": new_secret(), "types": ["order.paid\n"]},
        {"secret": new_secret(), "rooms": ["r1\n"]},
        {"secret": new_secret(), "extra": 1},
    ):
        reply = await http.post("/api/feed/endpoints", json={"url": url, **body})
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "bad_endpoint"


@pytest.mark.parametrize(
    "query",
    [
        "limit=%C2%B2",  # a superscript two: a digit to str.isdigit, not to int
        "limit=0",
        "limit=1001",
        "limit=00000000001",
        "before=99999999999999999999-1",  # past 2**64 - 1: Redis refuses it
        "before=%D9%A1-%D9%A1",  # Arabic-Indic digits
        "before=1-1%0A",  # a newline after the id
    ],
)
async def test_bad_dead_letter_queries_are_a_clear_400(node: Any, query: str) -> None:
    _, http = node
    reply = await http.get(f"/api/feed/dead?{query}")
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("bad", ["99999999999999999999-1", "\u0661-\u0661", "1-1\n", 7, None])
async def test_bad_dead_letter_ids_to_replay_are_a_clear_400(node: Any, bad: object) -> None:
    _, http = node
    reply = await http.post("/api/feed/dead/replay", json={"ids": ["1-1", bad]})
    assert reply.status_code == 400, reply.text


async def test_only_the_backend_manages_endpoints(node: Any) -> None:
    """A host token may not add or list endpoints."""
    _, http = node
    host = bearer("h", "r1", "host")
    reply = await http.post(
        "/api/feed/endpoints",
        json={"url": "http://127.0.0.1:9/", "secret": new_secret()},
        headers=host,
    )
    assert reply.status_code == 403
    assert (await http.get("/api/feed/endpoints", headers=host)).status_code == 403


async def test_secret_is_never_returned_nor_logged(node: Any, receiver: Receiver) -> None:
    """Added, listed, delivered to: the secret appears in no answer and no log line."""
    server, http = node
    secret = receiver.secret  # type: ignore[attr-defined]
    made = await add(http, receiver.url, secret, rooms=["s1room"], types=["order.reserved"])
    assert made.status_code == 201, made.text
    assert "secret" not in made.json() and secret not in made.text
    listed = await http.get("/api/feed/endpoints")
    assert made.json()["id"] in listed.text and secret not in listed.text
    await http.post("/api/rooms/s1room/sales", json=sale_body(stock=5, open=True))
    assert (await buy(http, "s1room", "u1")).status_code == 200
    await eventually(lambda: receiver.arrivals, timeout=10)
    assert [e["type"] for e in receiver.arrivals] == ["order.reserved"]  # the type filter
    health = await http.get("/api/rooms/s1room/feed")
    assert health.status_code == 200 and secret not in health.text
    assert secret[6:] not in server.log_path.read_text()
    gone = await http.delete(f"/api/feed/endpoints/{made.json()['id']}")
    assert gone.status_code == 200
    again = await http.delete(f"/api/feed/endpoints/{made.json()['id']}")
    assert again.status_code == 404


async def test_a_4xx_goes_to_dead_letter_at_once_and_replays(node: Any, receiver: Receiver) -> None:
    """A 400 is not retried: one attempt, dead letter; replayed later with the same id."""
    _, http = node
    receiver.fail, receiver.status = 1.0, 400
    made = await add(http, receiver.url, receiver.secret, rooms=["dl"])  # type: ignore[attr-defined]
    assert made.status_code == 201
    await http.post("/api/rooms/dl/sales", json=sale_body(stock=5, open=True))
    assert (await buy(http, "dl", "u1")).status_code == 200

    async def buried() -> list[dict[str, Any]]:
        reply = await http.get("/api/feed/dead")
        return [d for d in reply.json()["dead"] if d["event"]["type"] == "order.reserved"]

    (letter,) = await eventually(buried, timeout=10)
    assert letter["attempts"] == 1 and letter["error"] == "status 400"
    assert letter["endpoint"] == made.json()["id"]
    requests = receiver.requests
    receiver.fail = 0.0
    replay = await http.post("/api/feed/dead/replay", json={"ids": [letter["id"]]})
    assert replay.status_code == 200, replay.text
    assert replay.json()["replayed"] == [letter["id"]]
    assert receiver.requests == requests + 1
    assert receiver.arrivals[-1]["id"] == letter["event"]["id"]
    assert letter["id"] not in (await http.get("/api/feed/dead")).text
    bad = await http.post("/api/feed/dead/replay", json={"ids": ["nope"]})
    assert bad.status_code == 400


async def test_redirects_are_retried_never_followed(node: Any, receiver: Receiver) -> None:
    """A 307 counts as a failure: retried up to the attempts, then dead-lettered."""
    _, http = node
    receiver.fail, receiver.status = 1.0, 307
    await add(http, receiver.url, receiver.secret, rooms=["rd"])  # type: ignore[attr-defined]
    await http.post("/api/rooms/rd/sales", json=sale_body(stock=5))
    await http.post("/api/rooms/rd/sales/s1/open")

    async def buried() -> list[dict[str, Any]]:
        return [d for d in (await http.get("/api/feed/dead")).json()["dead"]]

    (letter,) = await eventually(buried, timeout=10)
    assert letter["attempts"] == 3 and letter["error"].startswith("redirect 307")
    assert receiver.requests == 3  # never followed elsewhere


async def test_a_hanging_receiver_does_not_slow_the_room(node: Any, receiver: Receiver) -> None:
    """Every request hangs past the timeout; buys still answer at once, and the console's
    health shows the timeouts."""
    _, http = node
    receiver.hang, receiver.hang_s = 1.0, 3.0
    await add(http, receiver.url, receiver.secret, rooms=["hang"])  # type: ignore[attr-defined]
    await http.post("/api/rooms/hang/sales", json=sale_body(stock=500, limit=1, open=True))
    started = time.monotonic()
    for i in range(100):
        assert (await buy(http, "hang", f"u{i}")).status_code == 200
    assert time.monotonic() - started < 5  # ~1 ms each when nothing waits on the receiver

    async def timed_out() -> dict[str, Any] | None:
        body = (await http.get("/api/rooms/hang/feed")).json()
        ends = body["endpoints"]
        return body if ends and ends[0].get("last_error") == "timeout" else None

    health = await eventually(timed_out, timeout=10)
    assert health["failures"] >= 1 and health["lanes"] == 1


async def test_a_lane_behind_the_outbox_bound_is_reported(
    start_server: Any, receiver: Receiver
) -> None:
    """Outbox bound 5; the receiver refuses while 21 events are appended; once it takes them
    again, what was trimmed unread is counted (health, metric, log), and the rest delivered."""
    server = start_server(**{**SETTINGS, "feed_outbox_len": 5, "feed_attempts": 1000})
    async with httpx.AsyncClient(base_url=server.url, headers=BACKEND, timeout=10) as http:
        receiver.open = False
        made = await add(http, receiver.url, receiver.secret, rooms=["bound"])  # type: ignore[attr-defined]
        assert made.status_code == 201
        await http.post("/api/rooms/bound/sales", json=sale_body(stock=100, limit=1, open=True))
        for i in range(20):
            assert (await buy(http, "bound", f"u{i}")).status_code == 200
        receiver.open = True

        async def reported() -> dict[str, Any] | None:
            body = (await http.get("/api/rooms/bound/feed")).json()
            return body if body["skipped"] and body["skipped"] + len(receiver.ids()) == 21 else None

        health = await eventually(reported, timeout=15)
        metrics = (await http.get("/metrics")).text
        assert f"liveroom_feed_skipped_total {float(health['skipped'])}" in metrics
    last = [e["data"]["user"] for e in receiver.arrivals if e["type"] == "order.reserved"][-5:]
    assert last == [f"u{i}" for i in range(15, 20)]
    assert "fell behind the outbox bound" in server.log_path.read_text()


async def test_loopback_is_refused_when_the_setting_says_so(start_server: Any) -> None:
    """With feed_allow_loopback off, 127.0.0.1 and a name resolving to it are refused."""
    server = start_server(**{**SETTINGS, "feed_allow_loopback": False})
    async with httpx.AsyncClient(base_url=server.url, headers=BACKEND, timeout=10) as http:
        for url, why in (
            ("http://127.0.0.1:9/hook", "loopback"),
            ("http://[::1]:9/hook", "loopback"),
            ("http://localhost:9/hook", "resolves to"),
        ):
            reply = await add(http, url, new_secret())
            assert reply.status_code == 400, (url, reply.text)
            assert why in reply.json()["error"]["message"], reply.text


@pytest.mark.parametrize(("status", "attempts"), [(404, 1), (408, 3), (429, 3), (503, 3)])
async def test_which_statuses_are_retried(
    node: Any, receiver: Receiver, status: int, attempts: int
) -> None:
    """A 4xx is final at once, but 408 and 429; a 5xx is retried until the attempts run out."""
    _, http = node
    receiver.fail, receiver.status = 1.0, status
    room = f"st{status}"
    await add(http, receiver.url, receiver.secret, rooms=[room])  # type: ignore[attr-defined]
    await http.post(f"/api/rooms/{room}/sales", json=sale_body(stock=5, open=True))

    async def buried() -> list[dict[str, Any]]:
        return [d for d in (await http.get("/api/feed/dead")).json()["dead"]]

    (letter,) = await eventually(buried, timeout=10)
    assert letter["attempts"] == attempts and letter["error"] == f"status {status}"
    assert receiver.requests == attempts
