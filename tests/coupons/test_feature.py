"""The coupons feature on a node (memory and Redis engines): eligibility through the follow
graph seam and the keyword hook, the claimer's private notice, the card running out, and a
paid order's reduced amount reaching the host's analytics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from liveroom.app import Node
from liveroom.auth import Identity
from liveroom.engine.base import Engine
from liveroom.errors import CommandError
from liveroom.features.coupons import Coupons
from liveroom.features.flashsale import FlashSaleFeature
from liveroom.features.flashsale.commands import Buy
from liveroom.features.flashsale.store import SaleSpec
from tests.timeouts import eventually

ROOM = "r1"


class Follows:
    """The private-traffic feature's follow graph as the seam gives it: a set of followers."""

    def __init__(self, *users: str) -> None:
        self.users = set(users)

    async def follows(self, room: str, user: str) -> bool:
        return user in self.users


class Paid:
    """An analytics sink that records what payments it is told of."""

    enabled = True

    def __init__(self) -> None:
        self.paid: list[tuple[str, int]] = []

    def order_paid(
        self, room: str, user: str, sku: str, order: str, units: int, cents: int
    ) -> None:
        self.paid.append((order, cents))

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None  # likes, cards, buys: not what these tests look at


@pytest.fixture
async def node(engine: Engine) -> AsyncIterator[Node]:
    built = Node(engine.settings, engine)  # type: ignore[attr-defined]
    yield built
    for feature in built.features:
        if isinstance(feature, FlashSaleFeature):
            await feature.sales.shutdown()


def coupons_of(node: Node) -> Coupons:
    return next(f for f in node.features if isinstance(f, Coupons))


def viewer(user: str) -> Identity:
    return Identity(user, user.title(), "viewer", (ROOM,))


async def notices(engine: Engine, user: str) -> list[dict[str, Any]]:
    """Start collecting what ``engine`` tells ``user`` privately in ROOM (and the room's events)."""
    seen: list[dict[str, Any]] = []

    def handler(room: str, payload: bytes) -> None:
        if payload.startswith(b"@" + user.encode() + b"\n"):
            seen.append(orjson.loads(payload.partition(b"\n")[2]))
        elif not payload.startswith(b"@"):
            seen.append(orjson.loads(payload))

    await engine.subscribe(ROOM, handler)
    return seen


async def test_followers_only_needs_a_follow_graph(node: Node) -> None:
    """Without the private-traffic feature a followers batch is refused at issue; with it, only
    followers claim."""
    feature = coupons_of(node)
    node.follows = None  # as on a node that runs no private-traffic feature
    with pytest.raises(CommandError) as refused:
        await feature.issue(ROOM, {"value": 100, "count": 5, "eligibility": "followers"})
    assert refused.value.code == "bad_request"
    node.follows = Follows("fan")
    batch = (await feature.issue(ROOM, {"value": 100, "count": 5, "eligibility": "followers"}))[
        "batch"
    ]["id"]
    with pytest.raises(CommandError) as stranger:
        await feature.claim(ROOM, batch, "passer-by")
    assert stranger.value.code == "not_eligible"
    assert (await feature.claim(ROOM, batch, "fan"))["coupon"]["user"] == "fan"


async def test_a_keyword_comment_opens_the_batch(node: Node, engine: Engine) -> None:
    """Claiming before the keyword is not_eligible; the keyword comment unlocks it privately."""
    seen = await notices(engine, "kw")
    feature = coupons_of(node)
    batch = (
        await feature.issue(
            ROOM, {"value": 100, "count": 5, "eligibility": "keyword", "keyword": "想要"}
        )
    )["batch"]["id"]
    with pytest.raises(CommandError) as early:
        await feature.claim(ROOM, batch, "kw")
    assert early.value.code == "not_eligible"
    await node.commented(ROOM, viewer("kw"), "hello")
    await node.commented(ROOM, viewer("kw"), " 想要 ")
    await eventually(lambda: any(e["type"] == "coupon_unlocked" for e in seen))
    assert (await feature.claim(ROOM, batch, "kw"))["coupon"]["batch"] == batch


async def test_the_claimer_hears_and_the_room_sees_the_card_run_out(
    node: Node, engine: Engine
) -> None:
    """Two coupons: each claimer gets coupon_claimed; the last claim sends the room a gone card."""
    seen = await notices(engine, "a")
    feature = coupons_of(node)
    batch = (await feature.issue(ROOM, {"value": 100, "count": 2}))["batch"]["id"]
    await feature.claim(ROOM, batch, "a")
    await feature.claim(ROOM, batch, "b")
    with pytest.raises(CommandError) as late:
        await feature.claim(ROOM, batch, "c")
    assert late.value.code == "coupon_gone"
    with pytest.raises(CommandError) as again:
        await feature.claim(ROOM, batch, "a")
    assert again.value.code == "already_claimed" and again.value.details["coupon"]["user"] == "a"

    def cards() -> list[str]:
        return [e["batch"]["status"] for e in seen if e["type"] == "coupon"]

    await eventually(lambda: cards() == ["open", "gone"])
    assert [e["coupon"]["user"] for e in seen if e["type"] == "coupon_claimed"] == ["a"]
    assert (await feature.snapshot(ROOM)) == {"coupons": []}  # gone: off the snapshot


async def test_a_paid_order_reports_what_the_buyer_paid(node: Node) -> None:
    """Analytics hear the order's total: the unit price times the units, less the coupon."""
    sink = Paid()
    node.analytics = sink
    sales = next(f for f in node.features if isinstance(f, FlashSaleFeature)).sales
    spec = SaleSpec(id="s1", sku="SKU-1", title="Tea", price=1990, stock=5, limit=5)
    await sales.create(ROOM, spec, open_now=True)
    feature = coupons_of(node)
    batch = (await feature.issue(ROOM, {"value": 500, "count": 1}))["batch"]["id"]
    coupon = (await feature.claim(ROOM, batch, "u1"))["coupon"]["id"]
    bought = await sales.buy(ROOM, "s1", "u1", "U1", 2, "q1", coupon)
    assert (bought["price"], bought["discount"], bought["total"]) == (1990, 500, 3480)
    await sales.confirm(ROOM, "s1", bought["order"])
    assert sink.paid == [(f"s1/{bought['order']}", 3480)]
    with pytest.raises(CommandError) as twice:
        await sales.buy(ROOM, "s1", "u1", "U1", 1, "q2", coupon)
    assert twice.value.code == "coupon_used" and twice.value.details["coupon"] == coupon
    await asyncio.sleep(0)  # let the sale's stock event task start before shutdown cancels it


@pytest.mark.parametrize(
    "body",
    [
        {"count": 5},  # no value
        {"value": 100, "count": 0},
        {"value": 0, "count": 5},
        {"kind": "percent", "value": 101, "count": 5},
        {"kind": "gift", "value": 1, "count": 5},
        {"value": 100, "count": 5, "keyword": "想要"},  # a keyword without eligibility keyword
        {"value": 100, "count": 5, "eligibility": "keyword"},  # and the reverse
        {"value": 100, "count": 5, "sku": "no spaces allowed"},
        {"value": 100, "count": 5, "end": 1.0},  # ends before it starts
        {"value": 100, "count": 5, "valid_s": -1},
        {"value": 100, "count": 5, "colour": "red"},
    ],
)
async def test_a_bad_batch_is_refused_with_bad_request(node: Node, body: dict[str, Any]) -> None:
    """Each malformed field is a bad_request naming it; nothing is issued."""
    feature = coupons_of(node)
    with pytest.raises(CommandError) as refused:
        await feature.issue(ROOM, body)
    assert refused.value.code == "bad_request"
    assert await feature.batches(ROOM) == []


@pytest.mark.parametrize("coupon", [5, "a b", "x" * 65, ["c"]])
def test_a_malformed_coupon_on_a_buy_is_bad_request(coupon: object) -> None:
    """The buy command refuses a coupon that is not a coupon id before anything runs."""
    body = {"sale": "s1", "request_id": "q1", "coupon": coupon}
    with pytest.raises(CommandError) as refused:
        Buy.parse(1, body)
    assert refused.value.code == "bad_request"
    assert Buy.parse(1, {**body, "coupon": None}).coupon == ""  # type: ignore[attr-defined]
