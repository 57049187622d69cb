"""Lucky bags (福袋): rules fixed up front, a countdown, one verifiable draw, private notices.

Each node caches its rooms' current bag (for keyword comments and joining viewers). The
cache of a room is dropped whenever the node relays one of the room's ``bag`` or ``bag_drawn``
events (``relayed``), and at the first pulse after the hub let go of the room's local room
(``_forget_dropped``); a keyword comment is checked against it only when the node has
relayed every event before the comment; otherwise the store is read. So a bag opened on any
node counts every keyword comment posted after the open, on every node.

Every node runs the same timers. A node arms a timer for each open bag whose deadline is near:
for bags it opened itself at once, for every other bag when its sweep (at start, then every
``sweep_interval_s``) reads the store's deadline index. When timers fire on several nodes, the
store's ``claim`` lets exactly one of them draw; a node that dies mid-draw lets its lease run
out and the next sweep anywhere draws again, to the same winners. The recipe is in ``rules``;
``docs/luckybag.md`` describes the whole feature.

Why one module of about 520 lines: a bag's whole life on a node (commands, keyword entries,
the timers and sweeps that fire the draw on every node, the draw's notices) shares the node's
bag cache; the timers and sweeps are the next part to move to a module of their own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from liveroom import metrics
from liveroom.auth import Identity
from liveroom.errors import CommandError, EngineUnavailable, ErrorCode
from liveroom.features import Feature, Handler, Held
from liveroom.features.keywords import Generations, forget_unheld, held_entry
from liveroom.features.luckybag.commands import handlers
from liveroom.features.luckybag.errors import BagCode
from liveroom.features.luckybag.routes import routes
from liveroom.features.luckybag.rules import (
    KEYWORD_MAX,
    day_of,
    pick_winners,
    proof,
    public_view,
    seed_hash,
    validate_rules,
)
from liveroom.features.luckybag.settings import (
    AGED_READS,
    KEYWORD_CACHE_S,
    LEASE_S,
    QUIET_CACHE_S,
    RULES_CACHE,
    STALE_BATCH,
    BagSettings,
)
from liveroom.features.luckybag.store import Answer, Bag, BagState, Draw, Outcome
from liveroom.features.luckybag.stores import bag_store
from liveroom.protocol import Command, event, frame, room_event_body
from liveroom.tasks import stop

if TYPE_CHECKING:
    from liveroom.connection.session import Session
    from liveroom.context import NodeContext

log = logging.getLogger("liveroom.luckybag")


class LuckyBags(Feature):
    """The lucky-bag feature of one node. Wall time comes from ``ctx.now()``."""

    name = "luckybag"
    critical_events = frozenset({b"bag_drawn", b"bag"})
    watched_events = frozenset({b"bag_drawn", b"bag"})
    error_codes = (BagCode,)
    keyword_max = KEYWORD_MAX

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.settings = BagSettings.of(ctx.settings)
        self.store = bag_store(ctx.engine)
        self.cap = self.settings.daily_wins
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        #: room -> (when read, on the monotonic clock; its current bag; the room's stream mark)
        self._current: dict[str, tuple[float, Bag | None, tuple[object, int] | None]] = {}
        #: the same, as the node's keyword gate reads it (``keywords.Held``): the open keyword
        #: bag's keyword, or none, until ``QUIET_CACHE_S`` after the read
        self.held_keywords: dict[str, Held] = {}
        #: per room, the bag events this node relayed: a read of the store that a relayed event
        #: overtook may be older than the event, and is not cached
        self._generations = Generations()
        self._fetching: dict[str, asyncio.Task[Bag | None]] = {}
        self._rules: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._counts: dict[str, tuple[str, int]] = {}
        self._seen: dict[str, set[str]] = {}

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        self._loops = [
            asyncio.create_task(self._sweep_loop(), name="liveroom-bag-sweep"),
            asyncio.create_task(self._room_loop(), name="liveroom-bag-rooms"),
        ]

    async def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        await stop([*self._loops, *self._tasks])

    def commands(self) -> Mapping[type[Command], Handler]:
        return handlers(self)

    def routes(self) -> list[BaseRoute]:
        return routes(self)

    # ------------------------------------------------------------------ host actions

    async def create(self, room: str, body: dict[str, Any], who: Identity) -> Bag:
        """A new bag with fixed rules; ``body["open"]`` opens it at once."""
        rules = validate_rules(body, self.settings.prize_cap_fen)
        start = body.get("open", False)
        if not isinstance(start, bool):
            raise CommandError(ErrorCode.BAD_REQUEST, "open is true or false")
        if start:
            # refuse before creating, so a refused create-and-open leaves nothing behind
            current = await self.store.current(room)
            if current is not None and current.state in (BagState.OPEN, BagState.DRAWING):
                raise CommandError(ErrorCode.CONFLICT, "another bag is open in this room")
        bag = Bag(
            id="bag-" + secrets.token_hex(5),
            room=room,
            state=BagState.CREATED,
            rules={**rules, "by": who.user},
            created_at=self.ctx.now(),
        )
        answer = await self.store.create(bag, room_event_body("bag", bag=public_view(bag)))
        self._refused(answer, "create")
        self._remember(bag)
        if start:
            return await self.open_bag(room, bag.id)
        return bag

    async def open_bag(self, room: str, bag_id: str) -> Bag:
        """Start the countdown and publish the seed's hash."""
        bag = await self.get(room, bag_id)
        now = self.ctx.now()
        seed = secrets.token_hex(32)
        opened = dataclasses.replace(
            bag,
            state=BagState.OPEN,
            opened_at=now,
            deadline=now + bag.rules["duration_s"],
            seed_hash=seed_hash(seed),
        )
        assert opened.deadline is not None and opened.seed_hash is not None
        body = room_event_body("bag", bag=public_view(opened, now))
        version = self._version(room)
        answer = await self.store.open(
            room, bag_id, now, opened.deadline, seed, opened.seed_hash, body
        )
        self._refused(answer, "open")
        self._cache(room, opened, version)
        self.schedule(room, bag_id, opened.deadline)
        return opened

    async def draw(self, room: str, bag_id: str) -> Bag:
        """The host draws now, before the deadline if need be."""
        outcome = await self.run_draw(room, bag_id, force=True, trigger="host")
        if outcome is not Outcome.OK:
            bag = await self.store.get(room, bag_id)
            if bag is None:
                raise CommandError(ErrorCode.NOT_FOUND, f"no bag {bag_id} in this room")
            if outcome is Outcome.BUSY:
                raise CommandError(ErrorCode.CONFLICT, "the bag is being drawn right now")
            raise CommandError(ErrorCode.CONFLICT, f"the bag is {bag.state.value}; nothing to draw")
        return await self.get(room, bag_id)

    async def revoke(self, room: str, bag_id: str) -> Bag:
        """Withdraw a bag that has not been drawn (nor come due)."""
        bag = await self.get(room, bag_id)
        now = self.ctx.now()
        revoked = dataclasses.replace(bag, state=BagState.REVOKED, revoked_at=now)
        body = room_event_body("bag", bag=public_view(revoked))
        self._refused(await self.store.revoke(room, bag_id, now, body), "revoke")
        self._unschedule(room, bag_id)
        self._drop(room)
        return revoked

    async def get(self, room: str, bag_id: str) -> Bag:
        bag = await self.store.get(room, bag_id)
        if bag is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no bag {bag_id} in this room")
        self._remember(bag)
        return bag

    async def proof(self, room: str, bag_id: str) -> dict[str, Any]:
        """The participant list and the recipe: what anyone needs to recompute the winners."""
        bag = await self.get(room, bag_id)
        return proof(bag, list(await self.store.participants(room, bag_id)))

    # ------------------------------------------------------------------ joining

    async def join(self, room: str, bag_id: str, who: Identity, *, keyword: bool = False) -> Answer:
        """Enter ``who`` (idempotent). ``keyword`` when a keyword comment is the way in."""
        rules = await self._rules_of(room, bag_id)
        if (rules["join"] == "keyword") != keyword:
            raise CommandError(
                ErrorCode.BAD_REQUEST,
                "send the keyword comment to join this bag"
                if rules["join"] == "keyword"
                else "this bag is joined with bag_join, not by comment",
            )
        now = self.ctx.now()
        answer = await self.store.join(room, bag_id, who.user, who.name, now, day_of(now), self.cap)
        self._refused(answer, "join")
        return answer

    async def _rules_of(self, room: str, bag_id: str) -> dict[str, Any]:
        rules = self._rules.get((room, bag_id))
        if rules is None:
            rules = (await self.get(room, bag_id)).rules
        return rules

    def _remember(self, bag: Bag) -> None:
        self._rules[(bag.room, bag.id)] = bag.rules
        self._rules.move_to_end((bag.room, bag.id))
        while len(self._rules) > RULES_CACHE:
            self._rules.popitem(last=False)

    def _refused(self, answer: Answer, action: str) -> None:
        """Turn a store refusal into the client's error code."""
        outcome = answer.outcome
        if outcome in (Outcome.OK, Outcome.CLAIMED):
            return
        if outcome is Outcome.MISSING:
            raise CommandError(ErrorCode.NOT_FOUND, "no such bag in this room")
        if outcome is Outcome.STATE:
            state = answer.state.value if answer.state else "closed"
            if action == "join":
                if answer.state is BagState.CREATED:
                    raise CommandError(ErrorCode.NOT_STARTED, "the bag is not open yet")
                raise CommandError(ErrorCode.ENDED, f"the bag is {state}; joining is closed")
            raise CommandError(ErrorCode.CONFLICT, f"the bag is {state}; cannot {action} it")
        if outcome is Outcome.ENDED:
            raise CommandError(ErrorCode.ENDED, "the countdown is over; joining is closed")
        if outcome is Outcome.LIMIT:
            raise CommandError(
                ErrorCode.LIMIT_REACHED,
                f"you have won {self.cap} bag(s) in this room today; come back tomorrow",
            )
        if outcome is Outcome.BUSY:
            raise CommandError(ErrorCode.CONFLICT, "another bag is open in this room")
        if outcome is Outcome.DUE:
            raise CommandError(ErrorCode.CONFLICT, "the countdown is over; the draw is owed")
        if outcome is Outcome.EXISTS:
            raise CommandError(ErrorCode.CONFLICT, "a bag with this id exists")
        raise CommandError(ErrorCode.CONFLICT, f"cannot {action} the bag ({outcome.value})")

    # ------------------------------------------------------------------ the draw

    async def run_draw(self, room: str, bag_id: str, *, force: bool, trigger: str) -> Outcome:
        """Claim the draw and, if this node got it, finish it. ``OK`` when this call drew."""
        now = self.ctx.now()
        token = f"{self.ctx.settings.node_id}:{secrets.token_hex(6)}"
        claim = await self.store.claim(room, bag_id, now, token, LEASE_S, force)
        metrics.BAG_DRAWS.labels(trigger, claim.outcome.value).inc()
        if claim.outcome is not Outcome.CLAIMED:
            if claim.outcome is Outcome.EARLY and claim.deadline is not None:
                self.schedule(room, bag_id, claim.deadline)
            elif claim.outcome in (Outcome.MISSING, Outcome.STATE):
                await self.store.undue(room, bag_id)
            return claim.outcome
        version = self._version(room)
        bag, users = claim.bag, claim.participants
        assert bag is not None and bag.seed is not None
        ineligible: dict[str, str] = {}
        if bag.rules["must_stay"]:
            await self._report(room)
            present = await self.store.present(room, now)
            ineligible = {user: "absent" for user in users if user not in present}
        day = day_of(now)
        wins = await self.store.wins(room, day, [u for u in users if u not in ineligible])
        ineligible.update({user: "daily_cap" for user, n in wins.items() if n >= self.cap})
        notice = event(
            "bag_won",
            room=room,
            bag=bag.id,
            prize=bag.rules["prize"],
            value_fen=bag.rules["value_fen"],
        )
        while True:
            winners = pick_winners(bag.seed, list(users), list(ineligible), bag.rules["winners"])
            result = {
                "winners": [{"id": w, "name": users[w]} for w in winners],
                "ineligible": dict(sorted(ineligible.items())),
            }
            drawn = dataclasses.replace(
                bag, state=BagState.DRAWN, drawn_at=now, result=result, count=len(users)
            )
            body = room_event_body("bag_drawn", bag=public_view(drawn))
            draw = Draw(result, day, self.cap, body, notice)
            answer = await self.store.finish(room, bag_id, token, now, draw)
            if answer.outcome is not Outcome.CAPPED:
                break
            ineligible.update({user: "daily_cap" for user in answer.users})
        if answer.outcome is Outcome.OK:
            self._unschedule(room, bag_id)
            self._cache(room, drawn, version)
            log.info("bag %s/%s drawn: %d of %d", room, bag_id, len(winners), len(users))
        return answer.outcome

    def schedule(self, room: str, bag_id: str, deadline: float) -> None:
        """Arm this node's timer for a bag's deadline (once per bag)."""
        key = (room, bag_id)
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, deadline - self.ctx.now())
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._fire, room, bag_id)

    def _unschedule(self, room: str, bag_id: str) -> None:
        handle = self._timers.pop((room, bag_id), None)
        if handle is not None:
            handle.cancel()

    def _fire(self, room: str, bag_id: str) -> None:
        self._timers.pop((room, bag_id), None)
        self._spawn(self._timed_draw(room, bag_id))

    async def _timed_draw(self, room: str, bag_id: str) -> None:
        try:
            await self.run_draw(room, bag_id, force=False, trigger="timer")
        except EngineUnavailable as exc:
            log.warning("bag %s/%s: draw put off, engine unavailable (%s)", room, bag_id, exc)
        except Exception:
            log.exception("bag %s/%s: draw failed", room, bag_id)

    async def sweep(self) -> None:
        """Arm timers for every bag due soon, on any node; fire those already due."""
        horizon = max(2 * self.ctx.settings.sweep_interval_s, 2.0)
        for room, bag_id, deadline in await self.store.due(self.ctx.now() + horizon):
            if (room, bag_id) not in self._timers:
                self.schedule(room, bag_id, deadline)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except EngineUnavailable:
                pass
            except Exception:
                log.exception("lucky-bag sweep failed")
            await asyncio.sleep(self.ctx.settings.sweep_interval_s)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ per-node room work
    #
    # The hub API this part reads and writes, all through ``ctx.hub``: ``hub.rooms`` (room id ->
    # LocalRoom, this node's rooms), and of a LocalRoom ``size``, ``viewers`` and ``joining``
    # (each viewer's ``user``) and ``add_state(key, payload)``. It keeps its own loop at the
    # pulse's cadence: ``Hub.on_pulse`` callbacks are synchronous, and are skipped for a room
    # whose engine pulse failed or that the pulse dropped.

    async def _room_loop(self) -> None:
        """Each pulse: the participant count to this node's viewers, and presence reports."""
        while True:
            await asyncio.sleep(self.ctx.settings.pulse_s)
            await self.tend_rooms()

    async def tend_rooms(self) -> None:
        """One pulse's upkeep of every room of this node: the bags read in one round
        (``_fetch_stale``), then each room's count and presence (``_tend``)."""
        self._forget_dropped()
        rooms = list(self.ctx.hub.rooms)
        try:
            known, todo = await self._fetch_stale(rooms)
        except EngineUnavailable:
            return  # the next pulse tries again
        except Exception:
            log.exception("lucky-bag reads of this node's rooms failed")
            return
        now = time.monotonic()
        for room_id in todo:
            try:
                # most rooms, most pulses: nothing to report, and no await (no coroutine a room)
                if self._tend(room_id, known, now):
                    await self._report(room_id)
            except EngineUnavailable:
                pass
            except Exception:
                log.exception("lucky-bag upkeep of room %s failed", room_id)

    async def _fetch_stale(self, rooms: list[str]) -> tuple[dict[str, Bag | None], list[str]]:
        """The current bag of every room with viewers here: the cached one where it can stand
        in (``_standing``), else (none, too old, or an open bag, whose count moves without
        events) read in one round per ``STALE_BATCH`` rooms instead of one round trip a room,
        and cached. ``_tend`` then looks each room up here instead of in the cache again.

        A room whose cache is stale for its age alone (older than ``QUIET_CACHE_S``, but no bag
        event relayed since it was read, no jump of the room's stream, and no open bag) is read
        again only as ``_due`` allows this pulse; the others wait for a later one.

        Also the rooms ``_tend`` has anything to do for, in order: not a room whose standing
        cache says it has no bag, and whose presence here was never reported (most rooms, most
        pulses), nor a room with no viewers here that shows no count and was never reported."""
        hub_rooms = self.ctx.hub.rooms
        seen, counts, current = self._seen, self._counts, self._current
        stale: list[str] = []
        aged: list[str] = []
        known: dict[str, Bag | None] = {}
        todo: list[str] = []
        now = time.monotonic()
        oldest = now - QUIET_CACHE_S
        # ``_standing`` written out, as this runs for every room each pulse: the stream mark is
        # the local room's (``stream_mark``), and a room has viewers here when its ``viewers``
        # or ``joining`` is not empty (``LocalRoom.size``)
        for room_id in rooms:
            local = hub_rooms.get(room_id)
            if local is None or not (local.viewers or local.joining):
                if room_id in seen or room_id in counts:
                    todo.append(room_id)
                continue
            cached = current.get(room_id)
            if cached is None:
                stale.append(room_id)
            else:
                mark = cached[2]
                if mark is None or mark[0] is not local or mark[1] != local.jumps:
                    stale.append(room_id)  # the stream jumped since the read
                else:
                    bag = cached[1]
                    if bag is not None and bag.state is BagState.OPEN:
                        stale.append(room_id)  # its count moves without events
                    elif cached[0] < oldest:
                        aged.append(room_id)
                    elif bag is None and room_id not in seen:
                        continue  # ``_tend`` would find no bag, and no report to withdraw
                    else:
                        known[room_id] = bag
            todo.append(room_id)
        stale += self._due(aged, len(rooms))
        for start in range(0, len(stale), STALE_BATCH):
            batch = stale[start : start + STALE_BATCH]
            versions = [self._version(room_id) for room_id in batch]
            bags = await self.store.current_many(batch)
            for room_id, bag, version in zip(batch, bags, versions, strict=True):
                self._cache(room_id, bag, version)
                known[room_id] = bag
        return known, todo

    def _forget_dropped(self) -> None:
        """Keep only the cache entries read under the local room the hub holds now. Each holds
        its stream mark, the ``LocalRoom`` itself, and the pulse caches every room with viewers
        here: a room the hub dropped (idle) stayed alive, with its event ring, for as long as
        the node ran, one per broadcast where room ids are one per broadcast. Such an entry
        could serve again only if the hub took the very same room back (``Hub.join``), and a
        read of the store does as well then. One pass over the cache a pulse, as
        ``_fetch_stale`` makes over the rooms."""
        hub_rooms = self.ctx.hub.rooms
        gone = forget_unheld(
            self._current, lambda entry: entry[2][0] if entry[2] else None, hub_rooms
        )
        for room_id in gone:
            self.held_keywords.pop(room_id, None)  # written and dropped with ``_current``
        self._generations.keep_only(hub_rooms)

    def _due(self, aged: list[str], rooms: int) -> list[str]:
        """Of the rooms whose cache aged out, those this pulse reads again: the oldest, at
        most ``AGED_READS`` or twice a pulse's share of ``rooms`` over ``QUIET_CACHE_S``,
        whichever is more. Rooms read together (all of a node's, at its start or when Redis is
        back) would otherwise age out together, and each ``QUIET_CACHE_S`` one pulse would read
        them all while the node's ticks wait (26 ms for 2,000 rooms on Redis, BENCHMARKS.md
        "Session 36"); so their reads spread over pulses, and stay spread. A room waiting here
        has, by its cache, no open bag, so nothing for the pulse to show or report; the wait
        only delays the 30 s safety net (a bag change the node missed without its stream
        jumping) by up to 15 s more, the time the waiting rooms take to drain at twice the rate
        rooms can age. A keyword comment in a waiting room reads the store (``heard``)."""
        share = math.ceil(2 * rooms * self.ctx.settings.pulse_s / QUIET_CACHE_S)
        cap = max(AGED_READS, share)
        if len(aged) <= cap:
            return aged
        current = self._current
        aged.sort(key=lambda room: current[room][0])
        return aged[:cap]

    def _tend(self, room_id: str, known: dict[str, Bag | None], now: float) -> bool:
        """One room's upkeep this pulse: its open bag's count to the viewers here. True when
        this node's presence in the room must be reported (``_report``): a ``must_stay`` bag
        is open, or the last viewer here left a room whose presence was reported (the report
        then withdraws them at once)."""
        local = self.ctx.hub.rooms.get(room_id)
        if local is None or local.size == 0:
            self._counts.pop(room_id, None)
            return room_id in self._seen
        if room_id in known and room_id in self._current:
            # standing, or read this pulse with the others (``_fetch_stale``), and no bag event
            # relayed since (that drops the cache)
            bag = known[room_id]
        else:
            standing = self._standing(room_id, now)
            if standing is None:
                # stale since the round's read (its first viewer came, or its cache aged out,
                # meanwhile), or aged and not yet due (``_due``): a later pulse's round reads
                # it, not a round trip of its own now
                return False
            bag = standing[0]  # no open bag, and no bag event since (most rooms, most pulses)
        if bag is None or bag.state is not BagState.OPEN:
            self._seen.pop(room_id, None)
            return False
        shown = (bag.id, bag.count)
        if self._counts.get(room_id) != shown:
            self._counts[room_id] = shown
            # a per-node state event: throttled to one per pulse, never stored in history
            local.add_state("bag_count", event("bag_count", bag=bag.id, count=bag.count))
        if bag.rules["must_stay"]:
            return True
        self._seen.pop(room_id, None)
        return False

    async def _report(self, room_id: str) -> None:
        """Tell the engine which users hold connections to ``room_id`` on this node."""
        local = self.ctx.hub.rooms.get(room_id)
        users = {v.user for v in (*local.viewers, *local.joining)} if local is not None else set()
        before = self._seen.get(room_id)
        if before is None:
            await self.store.seen(
                room_id,
                self.ctx.settings.node_id,
                users,
                set(),
                True,
                self.ctx.settings.node_ttl_s,
                self.ctx.now(),
            )
        else:
            await self.store.seen(
                room_id,
                self.ctx.settings.node_id,
                users - before,
                before - users,
                False,
                self.ctx.settings.node_ttl_s,
                self.ctx.now(),
            )
        if users:
            self._seen[room_id] = users
        else:  # none of its viewers is here now: withdrawn, nothing left to report
            self._seen.pop(room_id, None)

    async def current(self, room: str, max_age: float, after: int | None = None) -> Bag | None:
        """The room's current bag, from this node's cache when fresh enough.

        With ``after`` (a room offset), the answer holds every bag event up to that offset:
        the cache is used only once this node has relayed all of them (each relayed bag event
        drops the cache), else the store is read.
        """
        cached = self._current.get(room)
        if cached is not None and time.monotonic() - cached[0] <= max_age:
            if after is None:
                return cached[1]
            if await self.caught_up(room, after):
                cached = self._current.get(room)  # a bag event relayed meanwhile dropped it
                if cached is not None and cached[2] == self.stream_mark(room):
                    return cached[1]
        if after is not None:
            # a read already in flight may have started before the event we must see
            return await self._fetch(room)
        task = self._fetching.get(room)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch(room))
            self._fetching[room] = task
            task.add_done_callback(lambda _: self._fetching.pop(room, None))
        return await asyncio.shield(task)

    async def _fetch(self, room: str) -> Bag | None:
        """Read the room's current bag from the store, and cache it unless a bag event was
        relayed meanwhile (the read may be older than that event)."""
        version = self._version(room)
        bag = await self.store.current(room)
        self._cache(room, bag, version)
        return bag

    def _held(
        self, room: str, now: float | None = None, after: int | None = None
    ) -> tuple[Bag | None] | None:
        """The room's cached bag, as a 1-tuple, while it may stand in for a read of the store:
        no bag event relayed since it was read (that drops it), no jump of the room's stream,
        and at most ``QUIET_CACHE_S`` old; for a comment that follows offset ``after``, also
        every event up to it relayed. None when the store must be read."""
        cached = self._current.get(room)
        if cached is None:
            return None
        if (time.monotonic() if now is None else now) - cached[0] > QUIET_CACHE_S:
            return None
        if not self.unmoved(room, cached[2], after):
            return None
        return (cached[1],)

    def _standing(self, room: str, now: float) -> tuple[Bag | None] | None:
        """The room's cached bag, as a 1-tuple, when the pulse's upkeep need not read the
        store: ``_held`` at ``now`` (the pulse's ``time.monotonic()``), and no open bag (an
        open bag's count moves without events)."""
        held = self._held(room, now)
        if held is None or (held[0] is not None and held[0].state is BagState.OPEN):
            return None
        return held

    def _version(self, room: str) -> tuple[int, tuple[object, int] | None]:
        """What this node has seen of ``room`` so far: the bag events it relayed, and the
        room's stream mark (``Feature.stream_mark``). Taken before a read of the store."""
        return self._generations.of(room), self.stream_mark(room)

    def _cache(
        self, room: str, bag: Bag | None, version: tuple[int, tuple[object, int] | None]
    ) -> None:
        """Cache ``bag`` as the room's current one, if no bag event was relayed since this
        node's ``version`` of the room was taken."""
        if self._generations.of(room) == version[0]:
            now = time.monotonic()
            self._current[room] = (now, bag, version[1])
            words: frozenset[str] = frozenset()
            if bag is not None and bag.state is BagState.OPEN and bag.rules["join"] == "keyword":
                words = frozenset([bag.rules["keyword"]])
            self.held_keywords[room] = held_entry(now + QUIET_CACHE_S, words, version[1])

    def _drop(self, room: str) -> None:
        """What this node holds of the room's current bag is stale."""
        self._current.pop(room, None)
        self.held_keywords.pop(room, None)

    def relayed(self, room: str, kind: bytes, payload: bytes) -> None:
        """A bag of ``room`` changed (created, opened, revoked or drawn): what this node holds
        of the room's current bag is stale from here on."""
        self._generations.moved(room)
        self._drop(room)

    # ------------------------------------------------------------------ hooks

    async def snapshot(self, room: str) -> dict[str, Any]:
        bag = await self.store.current(room)
        return {"bag": public_view(bag, self.ctx.now()) if bag is not None else None}

    async def joined(self, session: Session) -> None:
        """Tell a viewer whether it is in the current bag, and whether it won."""
        if session.who.anonymous:
            return
        bag = await self.current(session.room.id, KEYWORD_CACHE_S)
        if bag is None or bag.state is BagState.CREATED:
            return
        user = session.who.user
        mine: dict[str, Any] = {
            "bag": bag.id,
            "joined": await self.store.is_participant(bag.room, bag.id, user),
        }
        if bag.state is BagState.DRAWN and bag.result is not None:
            mine["won"] = any(w["id"] == user for w in bag.result["winners"])
        session.viewer.send(frame([event("bag_mine", **mine)]))

    def heard(self, room: str, who: Identity, text: str, after: int | None) -> bool:
        """Whether the comment may join a bag: not when this node's cached bag of the room
        (kept until a bag event is relayed or the room's stream jumps, ``QUIET_CACHE_S`` at
        most) holds every bag event up to ``after`` and is no open keyword bag of this text.
        A comment that may join goes on to ``commented``, which reads the bag again unless
        the cache is ``KEYWORD_CACHE_S`` fresh."""
        if who.anonymous:
            return False
        held = self._held(room, None, after)
        if held is None:
            return True
        bag = held[0]
        return (
            bag is not None
            and bag.state is BagState.OPEN
            and bag.rules["join"] == "keyword"
            and text == bag.rules["keyword"]
        )

    async def commented(
        self, room: str, who: Identity, text: str, after: int | None = None
    ) -> None:
        """A comment equal to the open bag's keyword joins its author. ``after``: the room
        offset the comment follows; a bag opened before it, on any node, counts."""
        text = text.strip()
        if not text or len(text) > KEYWORD_MAX or who.anonymous:
            return
        bag = await self.current(room, KEYWORD_CACHE_S, after)
        if (
            bag is None
            or bag.state is not BagState.OPEN
            or bag.rules["join"] != "keyword"
            or text != bag.rules["keyword"]
        ):
            return
        try:
            answer = await self.join(room, bag.id, who, keyword=True)
        except CommandError as exc:
            note = event("bag_mine", bag=bag.id, joined=False, error=exc.as_dict())
            await self.ctx.engine.notify(room, who.user, note)
            return
        if answer.new:
            await self.ctx.engine.notify(
                room, who.user, event("bag_mine", bag=bag.id, joined=True, count=answer.count)
            )
