"""PacketStore conformance: the same answers from the memory engine and the Redis engine, on one
Redis and on a Redis Cluster."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from liveroom.engine.base import Engine
from liveroom.features.redpacket.store import Grab, GrabResult, PacketStore
from liveroom.features.redpacket.stores import packet_store
from tests.conftest import EVERY_ENGINE

pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)

NOW_MS = 1_700_000_000_000


def at(ms: int = 0) -> float:
    """``ms`` milliseconds after the tests' start, in epoch seconds as the store takes them."""
    return (NOW_MS + ms) / 1000


NOW = at()


def meta(packet: str, total: int, count: int) -> bytes:
    return orjson.dumps({"id": packet, "total": total, "count": count})


async def make(
    store: PacketStore,
    packet: str = "p1",
    amounts: list[int] | None = None,
    keyword: str = "",
    opens_at: float = NOW,
) -> list[int]:
    amounts = amounts or [30, 20, 50]
    assert await store.create(
        "r1", packet, meta(packet, sum(amounts), len(amounts)), amounts, keyword, opens_at
    )
    return amounts


async def test_grabs_pop_amounts_in_order(engine: Engine) -> None:
    """Each grab takes the next pre-split amount; the last grab gets the tally."""
    store = packet_store(engine)
    await make(store)
    a = await store.grab("r1", "p1", "u1", "U1", NOW)
    b = await store.grab("r1", "p1", "u2", "U2", at(5))
    c = await store.grab("r1", "p1", "u3", "U3", at(9))
    assert [(r.status, r.amount, r.left) for r in (a, b, c)] == [
        (Grab.OK, 30, 2),
        (Grab.OK, 20, 1),
        (Grab.OK, 50, 0),
    ]
    assert a.summary is None and b.summary is None
    assert c.summary is not None
    assert (c.summary.grabbed, c.summary.grabbed_fen) == (3, 100)
    assert (c.summary.best_user, c.summary.best_name, c.summary.best_fen) == ("u3", "U3", 50)
    assert (c.summary.first_at, c.summary.last_at) == (NOW, at(9))
    assert orjson.loads(c.meta)["id"] == "p1"


async def test_one_grab_per_user(engine: Engine) -> None:
    """A second grab by the same user is ALREADY, with the amount they hold."""
    store = packet_store(engine)
    await make(store)
    await store.grab("r1", "p1", "u1", "U1", NOW)
    again = await store.grab("r1", "p1", "u1", "U1", NOW)
    assert (again.status, again.amount, again.left) == (Grab.ALREADY, 30, 2)


async def test_refusals(engine: Engine) -> None:
    """Unknown id, before the opening time, and after every packet is taken."""
    store = packet_store(engine)
    await make(store, opens_at=at(1000))
    assert (await store.grab("r1", "nope", "u1", "U1", NOW)).status is Grab.NOT_FOUND
    assert (await store.grab("r1", "p1", "u1", "U1", at(999))).status is Grab.NOT_STARTED
    for user in ("u1", "u2", "u3"):
        assert (await store.grab("r1", "p1", user, user, at(1000))).status is Grab.OK
    gone = await store.grab("r1", "p1", "u4", "U4", at(1000))
    assert gone.status is Grab.GONE


async def test_duplicate_id_refused(engine: Engine) -> None:
    """Creating a packet with an id in use changes nothing."""
    store = packet_store(engine)
    await make(store)
    assert not await store.create("r1", "p1", meta("p1", 5, 5), [1] * 5, "", NOW)
    assert (await store.audit("r1", "p1")).total == 100  # type: ignore[union-attr]


async def test_keyword_packet_needs_the_keyword_first(engine: Engine) -> None:
    """Grab is KEYWORD until the user said it; saying it again unlocks nothing new."""
    store = packet_store(engine)
    await make(store, keyword="扣1抢红包")
    assert (await store.grab("r1", "p1", "u1", "U1", NOW)).status is Grab.KEYWORD
    assert await store.said("r1", "u1", "something else") == []
    assert await store.said("r1", "u1", "扣1抢红包") == ["p1"]
    assert await store.said("r1", "u1", "扣1抢红包") == []
    assert (await store.grab("r1", "p1", "u1", "U1", NOW)).status is Grab.OK
    assert (await store.grab("r1", "p1", "u2", "U2", NOW)).status is Grab.KEYWORD


async def test_keyword_stops_unlocking_when_gone(engine: Engine) -> None:
    """Once a keyword packet is empty, its keyword unlocks nothing; others keep theirs."""
    store = packet_store(engine)
    await make(store, "p1", [1], keyword="go")
    await make(store, "p2", [1, 1], keyword="go")
    assert sorted(await store.said("r1", "u1", "go")) == ["p1", "p2"]
    assert (await store.grab("r1", "p1", "u1", "U1", NOW)).status is Grab.OK
    assert await store.said("r1", "u2", "go") == ["p2"]


async def test_active_lists_open_packets_oldest_first(engine: Engine) -> None:
    """Active holds packets with packets left, with their count left."""
    store = packet_store(engine)
    await make(store, "p1", [1])
    await make(store, "p2", [2, 3])
    await store.grab("r1", "p2", "u1", "U1", NOW)
    active = await store.active("r1")
    assert [(orjson.loads(a.meta)["id"], a.left) for a in active] == [("p1", 1), ("p2", 1)]
    await store.grab("r1", "p1", "u1", "U1", NOW)
    assert [orjson.loads(a.meta)["id"] for a in await store.active("r1")] == ["p2"]
    assert await store.active("r2") == []


async def test_audit_balances(engine: Engine) -> None:
    """Grabbed plus left equals the total at every step."""
    store = packet_store(engine)
    amounts = await make(store, amounts=[5, 7, 11, 13])
    assert await store.audit("r1", "zz") is None
    for i in range(5):
        await store.grab("r1", "p1", f"u{i}", "x", NOW)
        audit = await store.audit("r1", "p1")
        assert audit is not None
        assert audit.grabbed_fen + audit.left_fen == audit.total == sum(amounts)
        assert audit.grabbed + audit.left == audit.count == 4
        assert audit.tally.grabbed_fen == audit.grabbed_fen
    assert await store.grabbers("r1", "p1") == {"u0": 5, "u1": 7, "u2": 11, "u3": 13}


async def test_concurrent_grabs_are_atomic(engine: Engine) -> None:
    """300 grabs by 150 users at once for 100 packets: 100 wins, one per user, sum exact."""
    store = packet_store(engine)
    amounts = list(range(1, 101))
    await make(store, amounts=amounts)
    results = await asyncio.gather(
        *(store.grab("r1", "p1", f"u{i % 150}", "x", NOW) for i in range(300))
    )
    wins = [r for r in results if r.status is Grab.OK]
    assert len(wins) == 100
    assert sum(w.amount for w in wins) == sum(amounts)
    assert sum(1 for r in results if r.summary is not None) == 1
    grabbers = await store.grabbers("r1", "p1")
    assert len(grabbers) == 100 and sum(grabbers.values()) == sum(amounts)


async def test_large_packet_count(engine: Engine) -> None:
    """Ten thousand packets are stored and counted exactly."""
    store = packet_store(engine)
    await make(store, amounts=[1] * 10_000)
    audit = await store.audit("r1", "p1")
    assert audit is not None and (audit.left, audit.left_fen) == (10_000, 10_000)


async def test_close_takes_back_what_is_left_once(engine: Engine) -> None:
    """Close after one grab: the two packets left come back as the refund, grabs are refused
    (a grabber still sees its amount), the audit balances with the refund, and closing again
    gives the same record."""
    store = packet_store(engine)
    await make(store, amounts=[30, 20, 50], keyword="hi")
    assert await store.said("r1", "u1", "hi") == ["p1"]
    await store.grab("r1", "p1", "u1", "U1", at(3))
    closed = await store.close("r1", "p1", at(10))
    assert closed is not None
    assert (closed.refund_fen, closed.refunded, closed.closed_at, closed.again) == (
        70,
        2,
        at(10),
        False,
    )
    assert (closed.tally.grabbed, closed.tally.grabbed_fen, closed.tally.best_user) == (1, 30, "u1")
    assert orjson.loads(closed.meta)["id"] == "p1"

    assert (await store.grab("r1", "p1", "u2", "U2", at(11))).status is Grab.CLOSED
    mine = await store.grab("r1", "p1", "u1", "U1", at(11))
    assert (mine.status, mine.amount) == (Grab.ALREADY, 30)
    assert await store.active("r1") == []
    assert await store.said("r1", "u2", "hi") == []  # its keyword no longer unlocks anything

    audit = await store.audit("r1", "p1")
    assert audit is not None
    assert (audit.grabbed_fen, audit.left_fen, audit.refund_fen) == (30, 0, 70)
    assert audit.grabbed_fen + audit.left_fen + audit.refund_fen == audit.total == 100
    assert (audit.refunded, audit.closed_at) == (2, at(10))

    again = await store.close("r1", "p1", at(99))
    assert again is not None
    assert (again.refund_fen, again.refunded, again.closed_at, again.again) == (
        70,
        2,
        at(10),
        True,
    )
    assert await store.close("r1", "nope", NOW) is None


async def test_close_before_the_opening_and_after_the_last_grab(engine: Engine) -> None:
    """A scheduled packet closes with everything refunded and answers CLOSED, not NOT_STARTED;
    a packet already emptied closes with nothing to refund."""
    store = packet_store(engine)
    await make(store, "early", amounts=[4, 6], opens_at=at(60_000))
    early = await store.close("r1", "early", NOW)
    assert early is not None and (early.refund_fen, early.refunded) == (10, 2)
    assert (await store.grab("r1", "early", "u1", "U1", at(60_000))).status is Grab.CLOSED

    await make(store, "done", amounts=[9])
    assert (await store.grab("r1", "done", "u1", "U1", NOW)).status is Grab.OK
    done = await store.close("r1", "done", at(1))
    assert done is not None and (done.refund_fen, done.refunded) == (0, 0)
    assert done.tally.grabbed_fen == 9
    audit = await store.audit("r1", "done")
    assert audit is not None and audit.grabbed_fen + audit.refund_fen == audit.total == 9


async def test_close_racing_grabs_loses_no_fen(engine: Engine) -> None:
    """150 grabs at once with a close among them: every fen is either grabbed or refunded,
    each exactly once, and a grab after the close is refused."""
    store = packet_store(engine)
    amounts = list(range(1, 101))
    await make(store, amounts=amounts)
    grabs = [store.grab("r1", "p1", f"u{i}", "x", NOW) for i in range(150)]
    results = await asyncio.gather(*grabs[:75], store.close("r1", "p1", NOW), *grabs[75:])
    closed = results[75]
    assert closed is not None and not isinstance(closed, GrabResult)
    won = [r for r in results if isinstance(r, GrabResult) and r.status is Grab.OK]
    refused = {r.status for r in results if isinstance(r, GrabResult) and r.status is not Grab.OK}
    assert refused <= {Grab.CLOSED, Grab.GONE}
    if Grab.GONE in refused:  # every packet went before the close ran: nothing to refund
        assert closed.refund_fen == 0
    assert sum(r.amount for r in won) + closed.refund_fen == sum(amounts)
    assert len(won) + closed.refunded == 100
    assert closed.tally.grabbed == len(won)
    audit = await store.audit("r1", "p1")
    assert audit is not None
    assert (audit.grabbed, audit.grabbed_fen, audit.left) == (len(won), closed.tally.grabbed_fen, 0)
    assert audit.grabbed_fen + audit.refund_fen == sum(amounts)
