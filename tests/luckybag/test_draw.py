"""The lucky-bag feature on each engine, in process, with the node's clock set by the test where
time matters."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from liveroom.app import Node
from liveroom.auth import Identity
from liveroom.engine.base import Engine
from liveroom.errors import Code, CommandError, ErrorCode
from liveroom.features.luckybag import LuckyBags
from liveroom.features.luckybag.errors import BagCode
from liveroom.features.luckybag.rules import day_of, pick_winners
from liveroom.features.luckybag.settings import AGED_READS, QUIET_CACHE_S
from liveroom.features.luckybag.store import Bag, BagState, BagStore, Outcome
from liveroom.localroom import LocalRoom
from tests.luckybag.watch import Room, subscribe
from tests.timeouts import eventually

VERIFY = Path(__file__).resolve().parents[2] / "docs" / "verify_luckybag.py"
HOST = Identity("host1", "Host", "host", ("*",))


def viewer(user: str) -> Identity:
    return Identity(user, user.title(), "viewer", ("r1",))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class ClockedNode(Node):
    """A node on ``engine`` whose clock is ``clock`` when given, else the real one."""

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        super().__init__(engine.settings, engine, clock=clock or time.time)  # type: ignore[attr-defined]


@pytest.fixture
async def clock() -> Clock:
    return Clock()


@pytest.fixture
async def bags(engine: Engine, clock: Clock) -> AsyncIterator[LuckyBags]:
    feature = LuckyBags(ClockedNode(engine, clock))
    yield feature
    await feature.close()


@pytest.fixture
async def room(engine: Engine) -> Room:
    seen = Room()
    await subscribe(engine, "r1", seen)
    return seen


async def new_bag(bags: LuckyBags, **rules: Any) -> str:
    body = {"prize": "lipstick", "value_fen": 9900, "winners": 1, "duration_s": 60, "open": True}
    bag = await bags.create("r1", {**body, **rules}, HOST)
    return bag.id


async def expect(code: Code, call: Any) -> CommandError:
    with pytest.raises(CommandError) as info:
        await call
    assert info.value.code is code, info.value.message
    return info.value


async def test_keyword_comment_joins(bags: LuckyBags, room: Room) -> None:
    """The exact keyword as a comment joins its author; other comments do not."""
    bag_id = await new_bag(bags, join="keyword", keyword="来了")
    await bags.commented("r1", viewer("alice"), " 来了 ")
    await bags.commented("r1", viewer("bob"), "来了吗")
    proof = await bags.proof("r1", bag_id)
    assert proof["participants"] == ["alice"]
    await eventually(lambda: room.private)
    assert room.private[0][0] == "alice"
    assert room.private[0][1]["joined"] is True


async def test_keyword_bag_refuses_tap_join(bags: LuckyBags) -> None:
    """A keyword bag is joined by the comment, not by bag_join; and vice versa."""
    bag_id = await new_bag(bags, join="keyword", keyword="go")
    await expect(ErrorCode.BAD_REQUEST, bags.join("r1", bag_id, viewer("alice")))


async def test_duplicate_join_counts_once(bags: LuckyBags) -> None:
    """Joining twice leaves one entry and the count at one."""
    bag_id = await new_bag(bags)
    first = await bags.join("r1", bag_id, viewer("alice"))
    second = await bags.join("r1", bag_id, viewer("alice"))
    assert (first.new, second.new, second.count) == (True, False, 1)
    assert (await bags.get("r1", bag_id)).count == 1


async def test_zero_participants_draws_nobody(bags: LuckyBags, clock: Clock, room: Room) -> None:
    """An empty bag is drawn at its deadline with no winners, announced once."""
    bag_id = await new_bag(bags)
    clock.now += 60
    assert await bags.run_draw("r1", bag_id, force=False, trigger="test") is Outcome.OK
    bag = await bags.get("r1", bag_id)
    assert bag.state is BagState.DRAWN and bag.result == {"winners": [], "ineligible": {}}
    await eventually(lambda: room.of_type("bag_drawn"))
    assert room.of_type("bag_drawn")[0]["bag"]["winner_list"] == []


async def test_fewer_participants_than_winners_all_win(
    bags: LuckyBags, clock: Clock, room: Room
) -> None:
    """Two participants in a three-winner bag both win and both are told."""
    bag_id = await new_bag(bags, winners=3)
    for user in ("alice", "bob"):
        await bags.join("r1", bag_id, viewer(user))
    drawn = await bags.draw("r1", bag_id)
    assert sorted(w["id"] for w in drawn.result["winners"]) == ["alice", "bob"]  # type: ignore[index]
    await eventually(lambda: len(room.private) == 2)
    assert sorted(user for user, _ in room.private) == ["alice", "bob"]
    assert all(notice["type"] == "bag_won" for _, notice in room.private)


async def test_draw_is_announced_once_with_the_seed(bags: LuckyBags, room: Room) -> None:
    """The announcement reveals the seed whose hash was published at the opening."""
    import hashlib

    bag_id = await new_bag(bags, winners=2)
    for user in ("alice", "bob", "carol", "dave"):
        await bags.join("r1", bag_id, viewer(user))
    await bags.draw("r1", bag_id)
    await expect(ErrorCode.CONFLICT, bags.draw("r1", bag_id))
    await eventually(lambda: room.of_type("bag_drawn"))
    opened = [e for e in room.of_type("bag") if e["bag"]["state"] == "open"][0]["bag"]
    drawn = room.of_type("bag_drawn")[0]["bag"]
    assert len(room.of_type("bag_drawn")) == 1
    assert hashlib.sha256(drawn["seed"].encode()).hexdigest() == opened["seed_hash"]
    expected = pick_winners(drawn["seed"], ["alice", "bob", "carol", "dave"], [], 2)
    assert [w["id"] for w in drawn["winner_list"]] == expected


async def test_verify_script_recomputes_the_winners(bags: LuckyBags) -> None:
    """docs/verify_luckybag.py, fed the proof endpoint's JSON, prints the announced winners."""
    bag_id = await new_bag(bags, winners=3)
    for i in range(12):
        await bags.join("r1", bag_id, viewer(f"user{i:02d}"))
    drawn = await bags.draw("r1", bag_id)
    proof = await bags.proof("r1", bag_id)
    run = subprocess.run(
        [sys.executable, str(VERIFY)], input=json.dumps(proof), capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [w["id"] for w in drawn.result["winners"]]  # type: ignore[index]
    proof["seed"] = "0" * 64
    tampered = subprocess.run(
        [sys.executable, str(VERIFY)], input=json.dumps(proof), capture_output=True, text=True
    )
    assert tampered.returncode == 1 and "seed_hash" in tampered.stderr


async def test_revoke_before_the_draw(bags: LuckyBags, room: Room) -> None:
    """A revoked bag cannot be joined or drawn; viewers see it revoked."""
    bag_id = await new_bag(bags)
    await bags.join("r1", bag_id, viewer("alice"))
    assert (await bags.revoke("r1", bag_id)).state is BagState.REVOKED
    await expect(ErrorCode.ENDED, bags.join("r1", bag_id, viewer("bob")))
    await expect(ErrorCode.CONFLICT, bags.draw("r1", bag_id))
    await eventually(lambda: any(e["bag"]["state"] == "revoked" for e in room.of_type("bag")))


async def test_revoke_after_the_draw_is_refused(bags: LuckyBags, clock: Clock) -> None:
    """Once drawn (or once the deadline passed) a bag cannot be revoked."""
    bag_id = await new_bag(bags)
    clock.now += 61
    await expect(ErrorCode.CONFLICT, bags.revoke("r1", bag_id))
    await bags.run_draw("r1", bag_id, force=False, trigger="test")
    await expect(ErrorCode.CONFLICT, bags.revoke("r1", bag_id))


async def test_prize_over_the_cap_is_refused(bags: LuckyBags) -> None:
    """A declared value above the cap (¥50,000 by default) is refused; the cap itself is fine."""
    error = await expect(BagCode.PRIZE_OVER_CAP, new_bag(bags, value_fen=5_000_001))
    assert error.details["cap_fen"] == 5_000_000
    assert await new_bag(bags, value_fen=5_000_000, open=False)


async def test_joining_after_the_deadline_is_refused(bags: LuckyBags, clock: Clock) -> None:
    """The countdown over, joins answer ended even before the timer draws."""
    bag_id = await new_bag(bags)
    clock.now += 60
    await expect(ErrorCode.ENDED, bags.join("r1", bag_id, viewer("alice")))


async def test_daily_win_cap(bags: LuckyBags, clock: Clock) -> None:
    """A user who won today's number of bags in the room cannot join another until tomorrow."""
    first = await new_bag(bags)
    await bags.join("r1", first, viewer("alice"))
    await bags.draw("r1", first)
    second = await new_bag(bags)
    await expect(ErrorCode.LIMIT_REACHED, bags.join("r1", second, viewer("alice")))
    await bags.revoke("r1", second)
    clock.now += 86400
    third = await new_bag(bags)
    assert (await bags.join("r1", third, viewer("alice"))).new is True


async def test_capped_users_are_left_out_at_the_draw(bags: LuckyBags, engine: Engine) -> None:
    """Who reached the cap between joining and the draw is listed ineligible, not drawn."""
    bags.cap = 2
    first = await new_bag(bags)
    await bags.join("r1", first, viewer("alice"))
    await bags.draw("r1", first)
    second = await new_bag(bags)
    for user in ("alice", "bob"):
        await bags.join("r1", second, viewer(user))
    bags.cap = 1
    drawn = await bags.draw("r1", second)
    assert drawn.result is not None
    assert drawn.result["winners"] == [{"id": "bob", "name": "Bob"}]
    assert drawn.result["ineligible"] == {"alice": "daily_cap"}
    wins = await bags.store.wins("r1", day_of(bags.ctx.now()), ["alice", "bob"])
    assert wins == {"alice": 1, "bob": 1}


async def test_must_stay_leaves_out_the_absent(bags: LuckyBags, clock: Clock) -> None:
    """In a stay-to-win bag only users with a live connection somewhere can win."""
    bag_id = await new_bag(bags, winners=5, must_stay=True)
    for user in ("alice", "bob", "carol"):
        await bags.join("r1", bag_id, viewer(user))
    await bags.store.seen("r1", "other-node", {"alice", "carol"}, set(), True, 5, clock.now)
    drawn = await bags.draw("r1", bag_id)
    assert drawn.result is not None
    assert sorted(w["id"] for w in drawn.result["winners"]) == ["alice", "carol"]
    assert drawn.result["ineligible"] == {"bob": "absent"}
    proof = await bags.proof("r1", bag_id)
    assert proof["ineligible"] == {"bob": "absent"} and proof["participants"] == [
        "alice",
        "bob",
        "carol",
    ]


async def test_timers_on_two_nodes_draw_once(engine: Engine, room: Room) -> None:
    """Two nodes' timers fire at the deadline; the bag is drawn exactly once."""
    nodes = [LuckyBags(ClockedNode(engine)) for _ in range(2)]
    nodes[1].store = nodes[0].store  # one engine's state: on memory, the store is that state
    try:
        bag = await nodes[0].create(
            "r1", {"prize": "cup", "value_fen": 100, "duration_s": 1, "open": True}, HOST
        )
        await nodes[0].join("r1", bag.id, viewer("alice"))
        await nodes[1].sweep()
        assert all(("r1", bag.id) in node._timers for node in nodes)
        await eventually(lambda: room.of_type("bag_drawn"), timeout=5)
        await eventually(lambda: not any(node._tasks or node._timers for node in nodes))
        assert len(room.of_type("bag_drawn")) == 1
        assert [user for user, _ in room.private] == ["alice"]
    finally:
        for node in nodes:
            await node.close()


async def test_a_dead_nodes_bag_is_drawn_by_another(engine: Engine, room: Room) -> None:
    """A bag opened by a node that died is found by another node's sweep at start, and drawn."""
    dead = LuckyBags(ClockedNode(engine))
    bag = await dead.create(
        "r1", {"prize": "cup", "value_fen": 100, "duration_s": 1, "open": True}, HOST
    )
    await dead.close()
    survivor = LuckyBags(ClockedNode(engine))
    survivor.store = dead.store  # one engine's state: on memory, the store is that state
    await survivor.open()
    try:
        await eventually(lambda: room.of_type("bag_drawn"), timeout=5)
        assert (await survivor.get("r1", bag.id)).state is BagState.DRAWN
        # the due entry goes in a step after the draw's script (a node dying between the two
        # leaves it to the next sweep, which finds the bag drawn): it is gone soon after
        await eventually(lambda: _no_dues(survivor.store.due(survivor.ctx.now() + 100)), timeout=5)
    finally:
        await survivor.close()


async def _no_dues(due: Awaitable[list[tuple[str, str, float]]]) -> bool:
    return await due == []


async def test_unknown_bags_are_not_found(bags: LuckyBags) -> None:
    """Every action on an unknown bag id answers not_found."""
    for call in (
        bags.join("r1", "bag-nope", viewer("alice")),
        bags.open_bag("r1", "bag-nope"),
        bags.draw("r1", "bag-nope"),
        bags.revoke("r1", "bag-nope"),
        bags.proof("r1", "bag-nope"),
    ):
        await expect(ErrorCode.NOT_FOUND, call)


async def test_one_open_bag_per_room(bags: LuckyBags) -> None:
    """Opening a second bag while one is open is a conflict."""
    await new_bag(bags)
    second = await bags.create("r1", {"prize": "cup", "value_fen": 1, "duration_s": 5}, HOST)
    await expect(ErrorCode.CONFLICT, bags.open_bag("r1", second.id))


async def test_snapshot_shows_the_current_bag(bags: LuckyBags) -> None:
    """The snapshot part carries the open bag with its count and time left, not its seed."""
    bag_id = await new_bag(bags)
    await bags.join("r1", bag_id, viewer("alice"))
    part = (await bags.snapshot("r1"))["bag"]
    assert part["id"] == bag_id and part["count"] == 1 and part["left_s"] == 60
    assert "seed" not in part and len(part["seed_hash"]) == 64


class CountingStore:
    """The feature's own store, counting its reads of rooms' current bags."""

    def __init__(self, store: BagStore) -> None:
        self.store = store
        self.one = 0
        self.many: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def current(self, room: str) -> Bag | None:
        self.one += 1
        return await self.store.current(room)

    async def current_many(self, rooms: list[str]) -> list[Bag | None]:
        self.many.append(list(rooms))
        return await self.store.current_many(rooms)


class Watcher:
    def __init__(self, user: str) -> None:
        self.user = user


async def test_a_pulse_reads_every_rooms_bag_in_one_round(bags: LuckyBags) -> None:
    """The per-pulse upkeep of 30 rooms with viewers reads their bags in one round, not a
    round trip a room, and counts the open ones; the next pulse reads again only the rooms
    with an open bag (their count moves without events), and never a room nobody watches."""
    hub = bags.ctx.hub
    rooms = [f"t{i}" for i in range(30)]
    for room_id in [*rooms, "empty"]:
        local = LocalRoom(hub, room_id)
        if room_id != "empty":
            local.joining.append(Watcher(f"w-{room_id}"))  # type: ignore[arg-type]
        hub.rooms[room_id] = local
    for i, room_id in enumerate(rooms[:10]):
        body = {"prize": "cup", "value_fen": 1, "duration_s": 60, "open": True}
        bag = await bags.create(room_id, body, HOST)
        for n in range(i + 1):
            who = Identity(f"u{n}", f"U{n}", "viewer", ("*",))
            await bags.join(room_id, bag.id, who)
    counting = CountingStore(bags.store)
    bags.store = counting  # type: ignore[assignment]

    await bags.tend_rooms()
    assert counting.many == [rooms] and counting.one == 0
    for i, room_id in enumerate(rooms):
        shown = hub.rooms[room_id].state.get("bag_count")
        if i < 10:
            assert shown is not None and json.loads(shown)["count"] == i + 1
        else:
            assert shown is None

    await bags.tend_rooms()
    assert counting.many[1:] == [rooms[:10]] and counting.one == 0

    # a room that turned stale after the round's read waits for the next round
    late = LocalRoom(hub, "late")
    late.joining.append(Watcher("w-late"))  # type: ignore[arg-type]
    hub.rooms["late"] = late
    assert bags._tend("late", {}, time.monotonic()) is False
    assert counting.one == 0 and "bag_count" not in late.state
    await bags.tend_rooms()
    assert "late" in counting.many[-1] and counting.one == 0


async def test_a_room_with_no_bag_is_passed_over_until_a_bag_event_comes(bags: LuckyBags) -> None:
    """The per-pulse upkeep passes over a watched room whose cached answer is "no bag" and whose
    presence was never reported here: no per-room step for it. A bag event relayed for one of
    them drops its cache, and the next pulse reads it and shows its count."""
    hub = bags.ctx.hub
    rooms = [f"q{i}" for i in range(5)]
    for room_id in rooms:
        local = LocalRoom(hub, room_id)
        local.joining.append(Watcher(f"w-{room_id}"))  # type: ignore[arg-type]
        hub.rooms[room_id] = local
    await bags.tend_rooms()  # the first pulse reads each room: no bag, cached
    tended: list[str] = []
    tend = bags._tend

    def spy(room_id: str, known: dict[str, Bag | None], now: float) -> bool:
        tended.append(room_id)
        return tend(room_id, known, now)

    bags._tend = spy  # type: ignore[method-assign]
    await bags.tend_rooms()
    assert tended == []

    body = {"prize": "cup", "value_fen": 1, "duration_s": 60, "open": True}
    bag = await bags.create("q2", body, HOST)
    await bags.join("q2", bag.id, Identity("u1", "U1", "viewer", ("*",)))
    bags.relayed("q2", b"bag", b"{}")  # what the room's stream brings every node
    await bags.tend_rooms()
    assert tended == ["q2"]
    shown = hub.rooms["q2"].state.get("bag_count")
    assert shown is not None and json.loads(shown)["count"] == 1


async def test_rooms_whose_cache_aged_out_together_are_read_again_over_several_pulses(
    bags: LuckyBags,
) -> None:
    """250 rooms read in one pulse age out together. A later pulse reads again only
    ``AGED_READS`` of them, the oldest first, and the next pulses the rest, so the reads stay
    spread; a room whose cache a bag event dropped is read at the next pulse all the same, and
    a room with an open bag every pulse, however old its cache, its count shown each time."""
    hub = bags.ctx.hub
    rooms = [f"a{i}" for i in range(250)]
    for room_id in [*rooms, "open"]:
        local = LocalRoom(hub, room_id)
        local.joining.append(Watcher(f"w-{room_id}"))  # type: ignore[arg-type]
        hub.rooms[room_id] = local
    body = {"prize": "cup", "value_fen": 1, "duration_s": 60, "open": True}
    bag = await bags.create("open", body, HOST)
    counting = CountingStore(bags.store)
    bags.store = counting  # type: ignore[assignment]
    await bags.tend_rooms()
    assert counting.many == [[*rooms, "open"]]

    for i, room_id in enumerate([*rooms, "open"]):  # aged out, "open" the longest ago
        read_at, cached, mark = bags._current[room_id]
        bags._current[room_id] = (read_at - QUIET_CACHE_S - 1 - i, cached, mark)
    bags.relayed("a0", b"bag", b"{}")  # its cache dropped: due at once, whatever its age
    oldest = rooms[::-1]
    await bags.tend_rooms()
    assert counting.many[1] == ["a0", "open", *oldest[:AGED_READS]]
    await bags.join("open", bag.id, Identity("u1", "U1", "viewer", ("*",)))
    await bags.tend_rooms()
    assert counting.many[2] == ["open", *oldest[AGED_READS : 2 * AGED_READS]]
    shown = hub.rooms["open"].state.get("bag_count")
    assert shown is not None and json.loads(shown)["count"] == 1
    await bags.tend_rooms()
    # the rest, fewer than a pulse's reads, in the hub's order (a0 was read two pulses ago)
    assert counting.many[3] == ["open", *rooms[1 : len(rooms) - 2 * AGED_READS]]
    await bags.tend_rooms()
    assert counting.many[4:] == [["open"]]  # every other room fresh again: nothing to read
    assert counting.one == 0


async def test_the_upkeep_reports_presence_and_withdraws_it_when_the_last_viewer_leaves(
    bags: LuckyBags, clock: Clock
) -> None:
    """With a stay-to-win bag open, each pulse's upkeep reports who watches the room on this
    node; once its last viewer is gone, the next pulse withdraws them at once (they are not
    left present until the report lapses), and later pulses report nothing more."""
    hub = bags.ctx.hub
    local = LocalRoom(hub, "r1")
    local.joining.append(Watcher("alice"))  # type: ignore[arg-type]
    hub.rooms["r1"] = local
    await new_bag(bags, must_stay=True)

    await bags.tend_rooms()
    assert await bags.store.present("r1", clock.now) == {"alice"}
    assert bags._seen["r1"] == {"alice"}

    local.joining.clear()  # the last viewer here left
    await bags.tend_rooms()
    assert await bags.store.present("r1", clock.now) == set()
    assert "r1" not in bags._seen
    reports = []
    bags._report = lambda room: reports.append(room)  # type: ignore[assignment,method-assign,misc]
    await bags.tend_rooms()
    assert reports == []
