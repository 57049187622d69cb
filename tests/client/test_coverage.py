"""The client covers the HTTP API: every documented operation is reached by a client method.

The operations come from the app's own OpenAPI document (with every optional part on), the
client's calls are made against a real server and recorded as they leave, so a route added to
the server without a client method, or a method whose path is wrong, fails here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable

import httpx

from liveroom import openapi
from liveroom.app import create_app
from liveroom.client import ApiError, LiveroomClient
from liveroom.config import Settings
from tests.servers import API_KEY, SECRET, ServerProcess

#: Documented operations the client leaves out on purpose, and why.
LEFT_OUT = {
    ("get", "/"): "demo only: sends a browser to the demo viewer page",
    ("get", "/demo/token"): "demo only: a token for the demo room; backends mint their own",
    ("post", "/demo/pay"): "demo only: plays the shop's payment backend (orders.confirm is it)",
    ("get", "/healthz"): "ops: liveness for the process supervisor; ready() is the backend's",
    ("get", "/metrics"): "ops: Prometheus text, for the scraper",
    ("get", "/openapi.json"): "ops: the machine-readable description this test reads",
    ("put", "/api/rooms/{room}"): "the PATCH handler under another verb; rooms.update sends PATCH",
}

Call = Callable[[LiveroomClient, str], Awaitable[object]]

#: One call of every coroutine method of the client, with arguments the server can route.
CALLS: dict[str, Call] = {
    "ready": lambda lr, r: lr.ready(),
    "rooms.get": lambda lr, r: lr.rooms.get(r),
    "rooms.update": lambda lr, r: lr.rooms.update(r, title="t"),
    "rooms.system_message": lambda lr, r: lr.rooms.system_message(r, "hi"),
    "rooms.mute": lambda lr, r: lr.rooms.mute(r, "u1"),
    "rooms.mutes": lambda lr, r: lr.rooms.mutes(r),
    "rooms.unmute": lambda lr, r: lr.rooms.unmute(r, "u1"),
    "rooms.kick": lambda lr, r: lr.rooms.kick(r, "u1"),
    "rooms.kicks": lambda lr, r: lr.rooms.kicks(r),
    "rooms.unkick": lambda lr, r: lr.rooms.unkick(r, "u1"),
    "rooms.stats": lambda lr, r: lr.rooms.stats(r),
    "rooms.report": lambda lr, r: lr.rooms.report(r),
    "rooms.report_csv": lambda lr, r: lr.rooms.report_csv(r),
    "rooms.add_ad_spend": lambda lr, r: lr.rooms.add_ad_spend(r, 100),
    "sales.create": lambda lr, r: lr.sales.create(
        r, sale="s1", sku="A1", title="Tea", price=1, stock=5
    ),
    "sales.list": lambda lr, r: lr.sales.list(r),
    "sales.get": lambda lr, r: lr.sales.get(r, "s1"),
    "sales.open": lambda lr, r: lr.sales.open(r, "s1"),
    "sales.adjust_stock": lambda lr, r: lr.sales.adjust_stock(r, "s1", 1),
    "sales.buy": lambda lr, r: lr.sales.buy(r, "s1", user="u1", request_id="x"),
    "sales.audit": lambda lr, r: lr.sales.audit(r, "s1"),
    "sales.close": lambda lr, r: lr.sales.close(r, "s1"),
    "orders.get": lambda lr, r: lr.orders.get(r, "s1", "o1"),
    "orders.confirm": lambda lr, r: lr.orders.confirm(r, "s1", "o1"),
    "orders.cancel": lambda lr, r: lr.orders.cancel(r, "s1", "o1"),
    "deals.create": lambda lr, r: lr.deals.create(
        r, deal="d1", sku="A1", title="Tea", size=2, price=1, stock=5
    ),
    "deals.list": lambda lr, r: lr.deals.list(r),
    "deals.get": lambda lr, r: lr.deals.get(r, "d1"),
    "deals.open": lambda lr, r: lr.deals.open(r, "d1"),
    "deals.start": lambda lr, r: lr.deals.start(r, "d1", user="u1", request_id="x"),
    "deals.match": lambda lr, r: lr.deals.match(r, "d1", user="u2", request_id="x"),
    "deals.groups": lambda lr, r: lr.deals.groups(r, "d1"),
    "deals.group": lambda lr, r: lr.deals.group(r, "d1", "d1-g1"),
    "deals.join": lambda lr, r: lr.deals.join(r, "d1", "d1-g1", user="u3", request_id="x"),
    "deals.audit": lambda lr, r: lr.deals.audit(r, "d1"),
    "deals.close": lambda lr, r: lr.deals.close(r, "d1"),
    "group_orders.get": lambda lr, r: lr.group_orders.get(r, "d1", "d1-o1"),
    "group_orders.confirm": lambda lr, r: lr.group_orders.confirm(r, "d1", "d1-o1"),
    "group_orders.cancel": lambda lr, r: lr.group_orders.cancel(r, "d1", "d1-o2"),
    "cards.pin": lambda lr, r: lr.cards.pin(r, sku="A1", title="t", price=1, image="/a.png"),
    "cards.board": lambda lr, r: lr.cards.board(r),
    "cards.click": lambda lr, r: lr.cards.click(r, "A1", user="u1"),
    "cards.funnel": lambda lr, r: lr.cards.funnel(r),
    "cards.unpin": lambda lr, r: lr.cards.unpin(r, "A1"),
    "cards.unpin_all": lambda lr, r: lr.cards.unpin_all(r),
    "bags.create": lambda lr, r: lr.bags.create(r, prize="p", value_fen=1, duration_s=60),
    "bags.list": lambda lr, r: lr.bags.list(r),
    "bags.get": lambda lr, r: lr.bags.get(r, "b1"),
    "bags.open": lambda lr, r: lr.bags.open(r, "b1"),
    "bags.join": lambda lr, r: lr.bags.join(r, "b1", user="u1"),
    "bags.draw": lambda lr, r: lr.bags.draw(r, "b1"),
    "bags.revoke": lambda lr, r: lr.bags.revoke(r, "b1"),
    "bags.proof": lambda lr, r: lr.bags.proof(r, "b1"),
    "packets.create": lambda lr, r: lr.packets.create(r, total=10, count=1),
    "packets.list": lambda lr, r: lr.packets.list(r),
    "packets.get": lambda lr, r: lr.packets.get(r, "p1"),
    "packets.grab": lambda lr, r: lr.packets.grab(r, "p1", user="u1"),
    "packets.close": lambda lr, r: lr.packets.close(r, "p1"),
    "coupons.issue": lambda lr, r: lr.coupons.issue(r, value=100, count=1),
    "coupons.list": lambda lr, r: lr.coupons.list(r),
    "coupons.get": lambda lr, r: lr.coupons.get(r, "c1"),
    "coupons.claim": lambda lr, r: lr.coupons.claim(r, "c1", user="u1"),
    "coupons.close": lambda lr, r: lr.coupons.close(r, "c1"),
    "coupons.wallet": lambda lr, r: lr.coupons.wallet(r, "u1"),
    "tokens.issue": lambda lr, r: lr.tokens.issue("u1", room=r),
    "feed.add_endpoint": lambda lr, r: lr.feed.add_endpoint("http://127.0.0.1:9/", "whsec_x"),
    "feed.endpoints": lambda lr, r: lr.feed.endpoints(),
    "feed.remove_endpoint": lambda lr, r: lr.feed.remove_endpoint("ep-1"),
    "feed.dead_letters": lambda lr, r: lr.feed.dead_letters(),
    "feed.replay": lambda lr, r: lr.feed.replay(["1-0"]),
    "feed.health": lambda lr, r: lr.feed.health(r),
    "private.follow": lambda lr, r: lr.private.follow(r, user="u1"),
    "private.unfollow": lambda lr, r: lr.private.unfollow(r, user="u1"),
    "private.followers": lambda lr, r: lr.private.followers(r, user="u1"),
    "private.cards": lambda lr, r: lr.private.cards(r),
    "private.set_card": lambda lr, r: lr.private.set_card(
        r, "invite", message="hi", link="https://example.com/g"
    ),
    "private.remove_card": lambda lr, r: lr.private.remove_card(r, "invite", for_host=True),
    "private.schedule": lambda lr, r: lr.private.schedule(r, title="Next live"),
    "private.booking": lambda lr, r: lr.private.booking(r, user="u1"),
    "private.book": lambda lr, r: lr.private.book(r, user="u1"),
}


def documented() -> set[tuple[str, str]]:
    """(method, path template) of every operation in the app's OpenAPI document."""
    app = create_app(Settings(secret=SECRET, api_key=API_KEY, demo=True))
    doc = openapi.document(app.routes)
    return {(method, path) for path, ops in doc["paths"].items() for method in ops}


def coroutine_methods(lr: LiveroomClient) -> set[str]:
    """The client's public coroutine methods, as ``namespace.method`` or ``method``, but
    ``aclose``, which sends nothing."""
    members = inspect.getmembers(lr, inspect.iscoroutinefunction)
    names = {n for n, _ in members if not n.startswith("_") and n != "aclose"}
    spaces = ("rooms", "sales", "orders", "deals", "group_orders", "cards", "bags", "packets")
    for space in (*spaces, "coupons", "tokens", "feed", "private"):
        members = inspect.getmembers(getattr(lr, space), inspect.iscoroutinefunction)
        names |= {f"{space}.{n}" for n, _ in members if not n.startswith("_")}
    return names


def template_of(method: str, path: str, templates: set[tuple[str, str]]) -> tuple[str, str]:
    """The one documented operation a sent request was routed to."""
    found = [
        (m, t)
        for m, t in templates
        if m == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path)
    ]
    exact = [(m, t) for m, t in found if t == path]  # /cards/funnel before /cards/{sku}
    assert len(exact or found) == 1, (method, path, found)
    return (exact or found)[0]


def test_left_out_operations_exist() -> None:
    """Every operation listed as left out is in the document: the list is not stale."""
    assert set(LEFT_OUT) <= documented()


async def test_every_documented_operation_has_a_client_method(
    server: ServerProcess, room: str
) -> None:
    """Each documented operation, bar the ones left out, is reached by a client method."""
    operations = documented()
    sent: list[tuple[str, str]] = []

    async def record(request: httpx.Request) -> None:
        sent.append((request.method.lower(), request.url.path))

    reached: dict[tuple[str, str], str] = {}
    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        lr = LiveroomClient(server.url, api_key=API_KEY, http=http)
        assert set(CALLS) == coroutine_methods(lr), "CALLS must call every client method"
        for name, call in CALLS.items():
            sent.clear()
            try:
                await call(lr, room)
            except ApiError:
                pass  # refused by an endpoint (no such bag, ...): the route was reached
            assert len(sent) == 1, (name, sent)
            reached[template_of(*sent[0], operations)] = name
    missing = sorted(operations - set(reached) - set(LEFT_OUT))
    assert not missing, f"documented operations with no client method: {missing}"
    assert not set(reached) & set(LEFT_OUT), "a left-out operation has a method: unlist it"
