"""A client process: many simulated viewers on one uvloop event loop, driven over a pipe.

The parent (``loadtest.pool``) sends ``(seq, op, args)``; the worker runs ``OPS[op]`` and answers
``("done", seq, result)`` or ``("failed", seq, message)``. Between answers it pushes
``("progress", counts)`` twice a second. Every op is bounded by a deadline it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import random
import resource
import time
import traceback
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

import orjson

from liveroom import auth
from loadtest import netns, rooms, wsclient
from loadtest.viewer import SimViewer, Tally

PROGRESS_S = 0.5


class Worker:
    """State of one client process."""

    def __init__(self, conn: Connection, index: int, config: dict[str, Any]) -> None:
        self.conn = conn
        self.index = index
        self.port: int = config["port"]
        self.host: str = config.get("host", "127.0.0.1")
        self.secret: str = config["secret"]
        self.tally = Tally()
        self.viewers: list[SimViewer] = []
        self.room = ""
        self.rids = itertools.count(1)
        self.done = asyncio.Event()
        self.traffic_on = False
        self.extra: dict[str, Any] = {}  # scenario state (buy answers, bag entries)
        self.reopening: set[asyncio.Task[None]] = set()  # held, so none is collected midway

    # ------------------------------------------------------------------ plumbing

    def on_readable(self) -> None:
        try:
            seq, op, args = self.conn.recv()
        except EOFError:
            self.done.set()
            return
        asyncio.get_running_loop().create_task(self._run(seq, op, args))

    async def _run(self, seq: int, op: str, args: dict[str, Any]) -> None:
        try:
            result = await OPS[op](self, **args)
            self.conn.send(("done", seq, result))
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            self.conn.send(("failed", seq, detail))
        if op == "close":
            self.done.set()

    async def progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_S)
            t = self.tally
            self.conn.send(
                (
                    "progress",
                    self.index,
                    {
                        "connected": sum(1 for v in self.viewers if v.live),
                        "snapshots": t.snapshots,
                        "delivered": t.delivered,
                        "frames": t.frames,
                        "sent": sum(t.sent.values()),
                        "answered": sum(t.answers.values()),
                        "errors": sum(t.connect_errors.values()),
                    },
                )
            )

    def target(self, viewer: SimViewer, resume: int | None = None) -> str:
        token = auth.mint(self.secret, viewer.user, room=self.room, ttl_s=86400)
        query = f"/ws?room={self.room}&token={token}"
        if resume is not None:
            query += f"&offset={resume}"
            if viewer.epoch:
                query += f"&epoch={viewer.epoch}"
        return query

    async def open(self, viewer: SimViewer, timeout: float, resume: int | None = None) -> bool:
        viewer.began = time.time()
        try:
            viewer.ws = await wsclient.connect(
                self.port,
                self.target(viewer, resume),
                viewer.on_message,
                viewer.on_close,
                timeout,
                self.host,
            )
        except TimeoutError:
            self.tally.error("timeout")
            return False
        except wsclient.HandshakeError:
            self.tally.error("handshake")
            return False
        except OSError as exc:
            self.tally.error(type(exc).__name__)
            return False
        return True

    def send_command(self, viewer: SimViewer, kind: str, **fields: Any) -> bool:
        rid = f"{self.index}.{next(self.rids)}"
        body = orjson.dumps({"type": kind, "id": rid, **fields})
        return viewer.command(rid, kind, body)

    async def until(self, check: Callable[[], bool], deadline: float, step: float = 0.05) -> bool:
        while not check():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(step)
        return True


# ---------------------------------------------------------------------- ops


async def op_connect(
    w: Worker,
    room: str,
    users: list[str],
    concurrency: int,
    timeout: float,
    wait_snapshot: bool = True,
) -> dict[str, Any]:
    """Connect one viewer per user id, ``concurrency`` handshakes at a time; wait for snapshots."""
    w.room = room
    new = [SimViewer(w.tally, user) for user in users]
    w.viewers.extend(new)
    gate = asyncio.Semaphore(max(1, concurrency))
    started = time.monotonic()
    deadline = started + timeout

    async def one(viewer: SimViewer) -> None:
        async with gate:
            left = deadline - time.monotonic()
            if left <= 0:
                w.tally.error("timeout")
                return
            await w.open(viewer, left)

    await asyncio.gather(*(one(v) for v in new))
    opened = time.monotonic() - started
    if wait_snapshot:
        await w.until(
            lambda: all(v.start >= 0 or v.ws is None or v.ws.closed for v in new), deadline
        )
    return {
        "opened": sum(1 for v in new if v.ws is not None),
        "snapshots": sum(1 for v in new if v.start >= 0),
        "open_s": opened,
        "all_s": time.monotonic() - started,
    }


async def op_traffic(
    w: Worker,
    t0: float,
    bucket_s: float,
    duration: float,
    comment_rate: float = 0.0,
    commenters: int = 0,
    like_rate: float = 0.0,
    churn_rate: float = 0.0,
    settle: float = 10.0,
) -> dict[str, Any]:
    """Send comments and likes at fixed rates, and reconnect viewers (resume) at ``churn_rate``.

    Rates are this process's share, per second. Stops at ``duration``; then waits up to
    ``settle`` seconds for the replies still owed.
    """
    t = w.tally
    t.t0, t.bucket_s = t0, bucket_s
    talkers = w.viewers[: max(0, commenters)] if comment_rate else []
    others = w.viewers[len(talkers) :] or w.viewers
    loop = asyncio.get_running_loop()
    begin = loop.time()
    end = begin + duration
    due = {"comment": 0.0, "like": 0.0, "churn": 0.0}
    rates = {"comment": comment_rate, "like": like_rate, "churn": churn_rate}
    counter = itertools.count()
    rng = random.Random(w.index)
    while True:
        now = loop.time()
        if now >= end:
            break
        elapsed = now - begin
        for kind, rate in rates.items():
            if rate <= 0:
                continue
            # catch up to the schedule, bounded so a stalled loop never bursts without limit
            owed = min(int(elapsed * rate - due[kind]), 1000)
            for _ in range(max(owed, 0)):
                due[kind] += 1
                n = next(counter)
                if kind == "comment" and talkers:
                    viewer = talkers[n % len(talkers)]
                    w.send_command(viewer, "comment", text=f"lt {w.index}-{n}")
                elif kind == "like":
                    viewer = others[rng.randrange(len(others))]
                    w.send_command(viewer, "like", count=1)
                elif kind == "churn":
                    churn(w, others[rng.randrange(len(others))])
        await asyncio.sleep(0.005)
    await w.until(lambda: not t.pending, time.monotonic() + settle)
    return {"unanswered": len(t.pending), "max_offset": t.max_offset}


def churn(w: Worker, viewer: SimViewer) -> bool:
    """Drop a live viewer's connection now and resume from its last offset and that offset's
    epoch (in a task); False when the viewer is not live or already reconnecting.

    The viewer is marked and its connection closed here, before the task starts: the same
    schedule step may pick one viewer twice, and two reconnect tasks would each open a
    connection, leaving one of them unclosed and delivering every event a second time."""
    if not viewer.live or viewer.reconnecting:
        return False
    viewer.reconnecting = True
    viewer.live = False
    viewer.abandon()
    if viewer.ws is not None:
        viewer.ws.close()
    w.tally.private["reconnect"] = w.tally.private.get("reconnect", 0) + 1
    task = asyncio.get_running_loop().create_task(_reopen(w, viewer))
    w.reopening.add(task)
    task.add_done_callback(w.reopening.discard)
    return True


async def _reopen(w: Worker, viewer: SimViewer) -> None:
    try:
        await w.open(viewer, 10.0, resume=max(viewer.last, 0))
    finally:
        viewer.reconnecting = False


async def op_drain(w: Worker, head: int, timeout: float) -> dict[str, Any]:
    """Wait until every open viewer holds offset ``head`` and every reply owed is in; say how
    many viewers never got there, and the newest offset a reply named (``max_offset``)."""
    deadline = time.monotonic() + timeout
    t = w.tally

    def level() -> bool:  # and no reply a live viewer can still get is owed
        return all((v.last >= head and not v.inflight) or not v.live for v in w.viewers)

    await w.until(level, deadline)
    behind = [v for v in w.viewers if v.live and v.last < head]
    # the newest offset a reply named, replies that came back during the drain included
    return {
        "behind": len(behind),
        "missing": sum(head - v.last for v in behind),
        "max_offset": t.max_offset,
    }


async def op_report(w: Worker, head: int) -> dict[str, Any]:
    """The counts, with ``expected``: the room events each viewer should have had by ``head``."""
    out = w.tally.summary()
    out["expected"] = sum(max(head - v.start, 0) for v in w.viewers if v.start >= 0)
    out["viewers"] = len(w.viewers)
    out["live"] = sum(1 for v in w.viewers if v.live)
    out["extra"] = w.extra
    return out


async def op_close(w: Worker) -> dict[str, Any]:
    for viewer in w.viewers:
        viewer.live = False
        if viewer.ws is not None:
            viewer.ws.close()
    return {}


async def op_command(
    w: Worker, kind: str, fields: list[dict[str, Any]], rate: float, settle: float
) -> dict[str, Any]:
    """Send one ``kind`` command per entry of ``fields`` (viewer i sends entry i), at ``rate``
    per second (0: all at once); wait up to ``settle`` seconds for the replies."""
    t = w.tally
    answers: list[dict[str, Any]] = []

    def keep(e: dict[str, Any], sent_kind: str) -> None:
        if sent_kind == kind:
            answers.append(e)

    t.on_reply = keep
    loop = asyncio.get_running_loop()
    begin = loop.time()
    for i, body in enumerate(fields):
        if rate > 0:
            wait = begin + i / rate - loop.time()
            if wait > 0.002:
                await asyncio.sleep(wait)
        w.send_command(w.viewers[i % len(w.viewers)], kind, **body)
    await w.until(lambda: not t.pending, time.monotonic() + settle)
    t.on_reply = None
    return {"answers": answers, "unanswered": len(t.pending), "sent_s": loop.time() - begin}


async def op_seen(w: Worker, kind: str, count: int, timeout: float) -> dict[str, Any]:
    """Wait until ``count`` watched events of ``kind`` have arrived here; return them all."""
    seen = w.tally.seen
    await w.until(
        lambda: sum(1 for e in seen if e.get("type") == kind) >= count,
        time.monotonic() + timeout,
    )
    return {"events": [e for e in seen if e.get("type") == kind]}


async def op_buy(
    w: Worker, sale: str, attempts: int, quantity: int, rate: float, settle: float
) -> dict[str, Any]:
    """Every viewer sends ``attempts`` buys (distinct request ids), all at once or at ``rate``
    per second over this process; wait up to ``settle`` seconds for the answers.

    Returns the units each user was granted, answers by code, and when sending started and
    the last answer came (epoch seconds, for buys per second across processes).
    """
    t = w.tally
    owner: dict[str, str] = {}
    granted: dict[str, int] = {}
    codes: dict[str, int] = {}
    last = [0.0]

    def answered(e: dict[str, Any], kind: str) -> None:
        if kind != "buy":
            return
        last[0] = time.time()
        user = owner.pop(str(e.get("id")), "")
        if e.get("ok"):
            granted[user] = granted.get(user, 0) + int(e.get("quantity", quantity))
            codes["ok"] = codes.get("ok", 0) + 1
        else:
            code = str((e.get("error") or {}).get("code", "error"))
            codes[code] = codes.get(code, 0) + 1

    t.on_reply = answered
    loop = asyncio.get_running_loop()
    first = time.time()
    begin = loop.time()
    sent = 0
    for attempt in range(attempts):
        for viewer in w.viewers:
            if rate > 0:
                wait = begin + sent / rate - loop.time()
                if wait > 0.002:
                    await asyncio.sleep(wait)
            rid = f"{w.index}.{next(w.rids)}"
            body = orjson.dumps(
                {
                    "type": "buy",
                    "id": rid,
                    "sale": sale,
                    "quantity": quantity,
                    "request_id": f"{viewer.user}-{attempt}",
                }
            )
            owner[rid] = viewer.user
            if viewer.command(rid, "buy", body):
                sent += 1
    await w.until(lambda: not t.pending, time.monotonic() + settle)
    t.on_reply = None
    return {
        "sent": sent,
        "granted": granted,
        "codes": codes,
        "first": first,
        "last": last[0],
        "unanswered": len(t.pending),
    }


OPS: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "connect": op_connect,
    "traffic": op_traffic,
    "drain": op_drain,
    "report": op_report,
    "close": op_close,
    "command": op_command,
    "seen": op_seen,
    "buy": op_buy,
    "rooms_connect": rooms.op_rooms_connect,
    "rooms_traffic": rooms.op_rooms_traffic,
    "rooms_drain": rooms.op_rooms_drain,
    "rooms_report": rooms.op_rooms_report,
    "rooms_close": rooms.op_rooms_close,
}


def main(conn: Connection, index: int, config: dict[str, Any]) -> None:
    """Process entry point (``multiprocessing`` spawn target)."""
    import uvloop

    if config.get("nice"):  # --client-nice: yield the shared cores to the server
        os.nice(config["nice"])
    if config.get("netns"):  # --netns: before any socket is opened
        netns.enter(config["netns"])
    # thousands of viewers' objects: with Python's default thresholds a full collection would
    # stall this client's reads for tens of milliseconds, and add that to measured latency
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def run() -> None:
        worker = Worker(conn, index, config)
        worker.tally.watch = frozenset(config.get("watch", ()))
        loop = asyncio.get_running_loop()
        loop.add_reader(conn.fileno(), worker.on_readable)
        # uvloop makes a watched fd non-blocking; a large answer (a report) would then be cut
        # off mid-message when the pipe fills. Sends and receives here are whole messages.
        os.set_blocking(conn.fileno(), True)
        ticker = loop.create_task(worker.progress())
        conn.send(("ready", index, {"nice": os.nice(0)}))
        await worker.done.wait()
        ticker.cancel()
        loop.remove_reader(conn.fileno())

    uvloop.run(run())
