"""The client processes' side of the ``platform`` scenario: many rooms of several classes.

Each client process holds a share of the rooms' viewers (``rooms_connect``): a small room's
viewers all in one process, a big room's spread over every process. Each class has its own
``Tally``, so delivery, loss and latency are told per class. During ``rooms_traffic`` the rooms
this process publishes in get their class's comment rate, the comments posted round-robin by the
room's viewers here (each a different user, so the server's per-user limit holds); the replies
give each room's head. ``rooms_drain`` and ``rooms_report`` then judge every viewer against its
own room's head.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from liveroom import auth
from loadtest import wsclient
from loadtest.viewer import SimViewer, Tally

if TYPE_CHECKING:
    from loadtest.worker import Worker

STEP_S = 0.01


class Pacer:
    """When each of many rooms posts, at a rate of its own: room ``i`` every ``1 / rate``
    seconds from a phase of its own, on a fixed schedule (``due``), kept in a heap.

    Each room starts at a random phase of its period: rooms that all started together would
    come due at once (2,000 small rooms at 0.2 a second posted 2,000 comments at once every
    5 s, and their latency measured the burst, not the server's pace). The poster sleeps until
    the next comment is due (``next_at``), so a fast room's comments leave at their times and
    not on the steps of a polling loop: a hot room posting 20 a second on 10 ms steps had its
    comments 40 or 60 ms apart as the steps fell, and two of them shared a 50 ms tick's frame
    whenever its phase came near the tick's edge. A poster that falls behind posts what it owes
    at once, each comment once, and the schedule keeps its grid.
    """

    def __init__(self, rates: list[float], rng: random.Random, start: float) -> None:
        self.periods = [1.0 / rate if rate > 0 else 0.0 for rate in rates]
        self.heap = [
            (start + (1.0 - rng.random()) * period, i)
            for i, period in enumerate(self.periods)
            if period > 0
        ]
        heapq.heapify(self.heap)

    def due(self, now: float) -> list[int]:
        """The rooms (by index, a room once per comment) due by ``now``, in their order."""
        out: list[int] = []
        heap, periods = self.heap, self.periods
        while heap and heap[0][0] <= now:
            at, i = heap[0]
            out.append(i)
            heapq.heapreplace(heap, (at + periods[i], i))
        return out

    def next_at(self) -> float | None:
        """When the next comment is due; None when no room posts."""
        return self.heap[0][0] if self.heap else None


@dataclass
class Rooms:
    """One client process's rooms: its viewers by room and class, and what the replies said."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    viewers: dict[str, list[SimViewer]] = field(default_factory=dict)  # room -> its viewers here
    classes: dict[str, str] = field(default_factory=dict)  # room -> class
    heads: dict[str, int] = field(default_factory=dict)  # room -> newest offset a reply named
    asked: dict[str, str] = field(default_factory=dict)  # request id -> room


def _rooms(w: Worker) -> Rooms:
    state = w.extra.get("rooms")
    if state is None:
        state = w.extra["rooms"] = Rooms()
    return state


async def op_rooms_connect(
    w: Worker, shares: list[list[Any]], concurrency: int, timeout: float
) -> dict[str, Any]:
    """Connect ``shares``: ``[room, class, first_user, count]`` each; wait for the snapshots."""
    state = _rooms(w)
    gate = asyncio.Semaphore(max(1, concurrency))
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    new: list[tuple[str, SimViewer]] = []
    for room, kind, first, count in shares:
        tally = state.tallies.get(kind)
        if tally is None:
            tally = state.tallies[kind] = Tally()
            tally.on_reply = _on_reply(state)
        state.classes[room] = kind
        for n in range(first, first + count):
            viewer = SimViewer(tally, f"{room}-u{n}")
            state.viewers.setdefault(room, []).append(viewer)
            new.append((room, viewer))

    async def one(room: str, viewer: SimViewer) -> None:
        async with gate:
            left = deadline - time.monotonic()
            if left <= 0:
                viewer.tally.error("timeout")
                return
            token = auth.mint(w.secret, viewer.user, room=room, ttl_s=86400)
            viewer.began = time.time()
            try:
                viewer.ws = await wsclient.connect(
                    w.port,
                    f"/ws?room={room}&token={token}",
                    viewer.on_message,
                    viewer.on_close,
                    left,
                    w.host,
                )
            except (TimeoutError, wsclient.HandshakeError, OSError) as exc:
                viewer.tally.error(type(exc).__name__)

    await asyncio.gather(*(one(room, v) for room, v in new))
    await w.until(
        lambda: all(v.start >= 0 or v.ws is None or v.ws.closed for _, v in new), deadline
    )
    return {
        "opened": sum(1 for _, v in new if v.ws is not None),
        "snapshots": sum(1 for _, v in new if v.start >= 0),
        "all_s": time.monotonic() - started,
    }


def _on_reply(state: Rooms) -> Any:
    def heard(e: dict[str, Any], kind: str) -> None:
        room = state.asked.pop(str(e.get("id")), None)
        offset = e.get("offset")
        if room is not None and e.get("ok") and isinstance(offset, int):
            if offset > state.heads.get(room, 0):
                state.heads[room] = offset

    return heard


async def op_rooms_traffic(
    w: Worker, publish: list[list[Any]], duration: float, t0: float
) -> dict[str, Any]:
    """Post comments for ``duration`` seconds: ``publish`` is ``[room, per_second]`` for the
    rooms this process posts in. Returns the heads the replies named, by room."""
    state = _rooms(w)
    for tally in state.tallies.values():
        tally.t0 = t0
    plan = [(room, rate, state.viewers.get(room, [])) for room, rate in publish]
    plan = [(room, rate, viewers) for room, rate, viewers in plan if viewers and rate > 0]
    turn = [0] * len(plan)
    cpu0 = time.process_time()
    start = time.monotonic()
    pacer = Pacer([rate for _, rate, _ in plan], random.Random(w.index), start)
    serial = 0
    end = start + duration
    while True:
        now = time.monotonic()
        # what came due, up to the end: a wake-up after the end still posts what it owes, so a
        # room posts as many comments as its schedule has before the end, however late the
        # last wake-up
        for i in pacer.due(min(now, end)):
            room, _, viewers = plan[i]
            viewer = viewers[turn[i] % len(viewers)]
            turn[i] += 1
            serial += 1
            rid = f"{w.index}.{serial}"
            body = orjson.dumps(
                {"type": "comment", "id": rid, "text": f"{room} says {serial} at {now:.3f}"}
            )
            if viewer.command(rid, "comment", body):
                state.asked[rid] = room
        if now >= end:
            break
        # until the next comment is due, a step at most (the loop's end comes on time)
        at = pacer.next_at()
        await asyncio.sleep(STEP_S if at is None else min(max(at - time.monotonic(), 0.0), STEP_S))
    # this client process's CPU over the traffic: how close the load generator came to a core
    cpu_s = time.process_time() - cpu0
    settle = time.monotonic() + 10.0
    while any(t.pending for t in state.tallies.values()) and time.monotonic() < settle:
        await asyncio.sleep(0.05)
    return {"heads": state.heads, "sent": serial, "cpu_s": cpu_s}


async def op_rooms_drain(w: Worker, heads: dict[str, int], timeout: float) -> dict[str, Any]:
    """Wait until every open viewer holds its room's head, and every reply still owed is in;
    say how many viewers never got there, and the heads the replies named by now (a reply
    read here may name a comment past the head ``heads`` holds for its room)."""
    state = _rooms(w)
    deadline = time.monotonic() + timeout

    def behind() -> list[tuple[SimViewer, int]]:
        return [
            (v, heads.get(room, 0))
            for room, viewers in state.viewers.items()
            for v in viewers
            if v.live and v.last < heads.get(room, 0)
        ]

    def owed() -> bool:  # a reply that can still come: to a live viewer's connection
        return any(v.live and v.inflight for viewers in state.viewers.values() for v in viewers)

    await w.until(lambda: not behind() and not owed(), deadline, step=0.1)
    late = behind()
    return {
        "behind": len(late),
        "missing": sum(head - v.last for v, head in late),
        "heads": state.heads,
    }


async def op_rooms_report(w: Worker, heads: dict[str, int]) -> dict[str, Any]:
    """Per class: the counts, with ``expected`` (each viewer's events from its snapshot to its
    room's head) and ``lost`` (of those, the ones it never got)."""
    state = _rooms(w)
    out: dict[str, Any] = {}
    for kind, tally in state.tallies.items():
        summary = tally.summary()
        summary.update(expected=0, lost=0, viewers=0, live=0)
        out[kind] = summary
    for room, viewers in state.viewers.items():
        summary = out[state.classes[room]]
        head = heads.get(room, 0)
        for v in viewers:
            summary["viewers"] += 1
            summary["live"] += 1 if v.live else 0
            if v.start >= 0:
                summary["expected"] += max(head - v.start, 0)
                summary["lost"] += max(head - v.last, 0)
    return out


async def op_rooms_close(w: Worker) -> dict[str, Any]:
    state = _rooms(w)
    for viewers in state.viewers.values():
        for viewer in viewers:
            viewer.live = False
            if viewer.ws is not None:
                viewer.ws.close()
    return {}
