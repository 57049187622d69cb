"""A reconnect storm: every viewer of a node comes back at once after the node dies.

``python -m loadtest.storm --viewers 5000 --signal TERM`` (Redis engine) starts a server node
and a second node that only publishes, joins N viewers to one room of the first, publishes
system messages, kills the first node (SIGTERM: it closes every viewer with 1012; SIGKILL: the
connections just drop), starts a new node on the same port, and publishes on while the viewers
come back. Each viewer reconnects as ``clients/js`` does: full jitter, never sooner than a
refusal's ``retry_after`` (close 1013 when the node is admitting connections at its rate), and
with the newest offset it holds. It must end with an exact resume (every offset once, in order)
or a reset snapshot. The run reports the time until every viewer was live again, the 1013
refusals, and the new node's peak RSS (``VmHWM``). ``tests/e2e/test_reconnect_storm.py`` runs
the same storm (``Storm``) against the tests' own server processes.

The viewers are ``loadtest.wsclient`` connections in this one process: no task per idle viewer,
one orjson parse per frame.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from liveroom import auth
from loadtest import wsclient
from loadtest.server import SpawnedServer

#: reconnect backoff of the storm's viewers: the JS client's base, and a ceiling of 2 s instead
#: of its 10 s, so that the viewers, not their backoff, keep the new node busy
BACKOFF_BASE_S = 0.3
BACKOFF_MAX_S = 2.0
#: one attempt's deadline, from its TCP connect to the upgrade's answer: against a hang, not a
#: slow handshake. The JS client has none (a browser waits for the upgrade); a storm on a busy
#: machine answers upgrades after 10 s and more, and an attempt given up sooner is one more
#: connection for the node to answer, and, with the viewers' own loop as busy, gives up on
#: answers that have come but are not read yet: every viewer retrying so, none came back
CONNECT_TIMEOUT_S = 60.0


class StormViewer:
    """One viewer: its connection, the newest offset it holds, and how each join went."""

    __slots__ = (
        "crowd",
        "user",
        "token",
        "conn",
        "offset",
        "live",
        "attempt",
        "retry_after",
        "joins",
        "problems",
        "refusals",
        "history",
        "tries",
        "epoch",
    )

    def __init__(self, crowd: Crowd, user: str, token: str) -> None:
        self.crowd = crowd
        self.user = user
        self.token = token
        self.conn: wsclient.WsClient | None = None
        self.offset: int | None = None
        self.epoch: str | None = None  # the stream epoch of ``offset``, sent back on resume
        self.live = False
        self.attempt = 0
        self.retry_after = 0.0
        self.joins: list[str] = []  # "fresh", "resumed" or "reset", one per join
        self.problems: list[str] = []
        self.refusals = 0
        self.history: list[str] = []  # each connection's story, for a problem's report
        self.tries = 0  # connection attempts; the callbacks of an abandoned one are ignored

    async def connect(self) -> None:
        """One attempt; a failed one schedules the next."""
        if self.crowd.stopping:
            return
        target = f"/ws?room={self.crowd.room}&token={self.token}"
        if self.offset is not None:
            target += f"&offset={self.offset}"
            if self.epoch is not None:
                target += f"&epoch={self.epoch}"
        self.retry_after = 0.0
        self.history.append(f"connect offset={self.offset} at {time.monotonic():.1f}")
        self.tries += 1
        attempt = self.tries

        def on_message(payload: bytes) -> None:
            if self.tries == attempt:
                self.on_message(payload)

        def on_close(code: int | None) -> None:
            if self.tries == attempt:
                self.on_close(code)

        # One deadline for the whole attempt: at it the connection in progress is aborted
        # (``wsclient.connect`` aborts its socket when cancelled), so the node is not left to
        # answer an upgrade nobody waits for.
        began = time.monotonic()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                conn = await wsclient.connect(
                    self.crowd.port, target, on_message, on_close, CONNECT_TIMEOUT_S
                )
        except Exception as exc:  # refused, reset, timed out: all mean try again later
            if self.tries == attempt:
                self.tries += 1  # the aborted connection's late callbacks are ignored
                took = time.monotonic() - began
                why = f"{type(exc).__name__} {exc}".strip()
                self.history.append(f"failed {why} after {took:.1f}s")
                self._again()
            return
        if self.tries != attempt:  # given up on already: a second connection must not live
            conn.abort()
            return
        self.conn = conn
        self.history.append(f"open after {time.monotonic() - began:.1f}s")

    def on_message(self, payload: bytes) -> None:
        for e in orjson.loads(payload):
            kind = e.get("type")
            offset = e.get("offset")
            if kind == "snapshot":
                if self.offset is not None and not e.get("reset"):
                    self.problems.append(
                        f"a resume from {self.offset} got a snapshot without reset"
                    )
                self.joins.append("reset" if e.get("reset") else "fresh")
                self.offset = offset
                self.epoch = e.get("epoch")
                self._live()
            elif kind == "resumed":
                self.history.append(f"resumed {offset} missed={e.get('missed')}")
                if offset != self.offset:
                    self.problems.append(f"resumed at {offset} while holding {self.offset}")
                if e.get("epoch") != self.epoch:
                    self.problems.append(f"resumed in epoch {e.get('epoch')} holding {self.epoch}")
                self.joins.append("resumed")
                self._live()
            elif kind == "error":
                self.retry_after = float(e.get("retry_after") or 0.0)
            elif kind == "resync" or kind == "skipped":
                self.problems.append(f"{kind} {e}")
            elif isinstance(offset, int) and kind != "reply":
                held = self.offset
                if held is not None and offset != held + 1:
                    what = "duplicate" if offset <= held else "gap"
                    self.problems.append(f"{what}: {offset} after {held}")
                self.offset = offset if held is None else max(held, offset)

    def _live(self) -> None:
        if not self.live:
            self.live = True
            self.attempt = 0
            self.crowd.became_live(self)

    def on_close(self, code: int | None) -> None:
        told = f" retry_after={self.retry_after}" if self.retry_after else ""
        self.history.append(f"closed {code} holding {self.offset}{told} at {time.monotonic():.1f}")
        self.conn = None
        if code == 1013:
            self.refusals += 1
            self.crowd.refusals += 1
        if self.live:
            self.live = False
            self.crowd.lost(self)
        self._again()

    def _again(self) -> None:
        """Full jitter under a doubling ceiling; never sooner than the refusal's retry_after."""
        if self.crowd.stopping:
            return
        ceiling = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**self.attempt)
        delay = max(random.random() * ceiling, self.retry_after)
        self.attempt += 1
        loop = asyncio.get_running_loop()
        loop.call_later(delay, lambda: self.crowd.spawn(self.connect()))


@dataclass
class Crowd:
    """The storm's viewers, all in one room of the node on ``port``."""

    port: int
    room: str
    secret: str
    size: int
    viewers: list[StormViewer] = field(default_factory=list)
    live_count: int = 0
    refusals: int = 0
    stopping: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    #: the longest the viewers' event loop was late to wake (``watch_lag``): past a second or
    #: two the viewers, not the node, are what a storm waits for
    lag_max_s: float = 0.0
    watcher: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        for n in range(self.size):
            user = f"s{n}"
            token = auth.mint(self.secret, user, room=self.room, role="viewer", ttl_s=3600)
            self.viewers.append(StormViewer(self, user, token))

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def became_live(self, viewer: StormViewer) -> None:
        self.live_count += 1
        self.changed.set()

    def lost(self, viewer: StormViewer) -> None:
        self.live_count -= 1
        self.changed.set()

    def start(self) -> None:
        self.watcher = asyncio.ensure_future(self.watch_lag())
        for viewer in self.viewers:
            self.spawn(viewer.connect())

    async def watch_lag(self, every: float = 0.1) -> None:
        """Until ``close``: how late the loop wakes from a sleep of ``every`` seconds."""
        while not self.stopping:
            began = time.monotonic()
            await asyncio.sleep(every)  # the probe itself: how late this wakes is the lag
            self.lag_max_s = max(self.lag_max_s, time.monotonic() - began - every)

    async def until(self, check: Callable[[], bool], timeout: float, what: str) -> float:
        """Wait for ``check()``, woken by every join and loss; the seconds it took."""
        began = time.monotonic()
        deadline = began + timeout
        while not check():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{what}: not within {timeout:.0f}s; {self.state()}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.2))
            except TimeoutError:
                pass
        return time.monotonic() - began

    def state(self) -> str:
        """How many viewers are live, connected but not yet live, or waiting to retry; and the
        last thing that happened to a few of the others."""
        waiting = [v for v in self.viewers if not v.live and v.conn is None]
        joining = [v for v in self.viewers if not v.live and v.conn is not None]
        last = [f"{v.user}: {v.history[-6:]}" for v in (joining[:3] + waiting[:3])]
        pending = [t for t in self.tasks if not t.done()]
        stack = ""
        if pending:
            frames = pending[0].get_stack()
            stack = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in frames)
        return (
            f"{self.live_count} live, {len(joining)} joining, {len(waiting)} waiting; {last}; "
            f"{len(pending)} attempts pending, one at {stack}; "
            f"the viewers' loop up to {self.lag_max_s:.1f}s late"
        )

    def all_live(self) -> bool:
        return self.live_count == self.size

    def all_hold(self, offset: int) -> bool:
        return all(v.offset is not None and v.offset >= offset for v in self.viewers)

    def problems(self) -> list[str]:
        return [f"{v.user}: {p}" for v in self.viewers for p in v.problems]

    def stories(self, most: int = 5) -> list[str]:
        """The connection histories of the first ``most`` viewers with a problem."""
        troubled = [v for v in self.viewers if v.problems][:most]
        return [f"{v.user}: {' | '.join(v.history)} || {v.problems[:3]}" for v in troubled]

    async def close(self) -> None:
        self.stopping = True
        for viewer in self.viewers:
            if viewer.conn is not None:
                viewer.conn.abort()
        for task in list(self.tasks):
            task.cancel()
        if self.watcher is not None:
            self.watcher.cancel()


def peak_rss_mb(pid: int) -> float:
    """The peak resident set of process ``pid`` so far (``VmHWM``), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


@dataclass
class StormResult:
    """What one storm measured."""

    viewers: int
    signal: str
    joined_s: float  # the first join of every viewer
    gone_s: float  # from the signal until the old node's process had exited
    live_again_s: float  # from the signal until every viewer was live again
    back_s: float  # from the old node's exit until every viewer was live again (the new
    # node's start included)
    refusals: int  # 1013 answers over the whole run
    refusals_storm: int  # 1013 answers after the kill
    joins: dict[str, int]  # after the kill: resumed / reset / fresh
    peak_rss_mb: float  # the new node's peak RSS
    head: int  # the room's last offset; every viewer holds it
    published_storm: int  # events published between the kill and every viewer live again
    publish_failures: int  # publishing attempts that failed meanwhile
    viewers_lag_s: float  # the longest the viewers' own event loop was late (``watch_lag``)
    problems: list[str]
    stories: list[str]  # the connection histories of a few viewers with a problem


class Storm:
    """The storm's script. ``kill()`` ends the serving node, ``restart()`` starts a new one on
    the same port and returns its pid once ready, ``publish(n)`` posts ``n`` room events
    (through another node) and returns the newest offset."""

    def __init__(
        self,
        crowd: Crowd,
        kill: Callable[[], Awaitable[None]],
        restart: Callable[[], Awaitable[int]],
        publish: Callable[[int], Awaitable[int]],
        signal_name: str,
        timeout: float = 120.0,
    ) -> None:
        self.crowd = crowd
        self.kill = kill
        self.restart = restart
        self.publish = publish
        self.signal_name = signal_name
        self.timeout = timeout

    async def run(self) -> StormResult:
        crowd = self.crowd
        crowd.start()
        joined_s = await crowd.until(crowd.all_live, self.timeout, "first join")
        head = await self.publish(20)
        await crowd.until(lambda: crowd.all_hold(head), self.timeout, "first events")
        before = {id(v): len(v.joins) for v in crowd.viewers}
        refusals_before = crowd.refusals
        # live traffic through the other node from the kill on: while the node is down, while it
        # starts and while the viewers come back
        stop = asyncio.Event()
        publishing = asyncio.ensure_future(self._publish_until(stop))
        killed = time.monotonic()
        try:
            await self.kill()
            gone_s = time.monotonic() - killed
            pid = await self.restart()
            await crowd.until(crowd.all_live, self.timeout, "live again")
            live_again_s = time.monotonic() - killed
        finally:
            stop.set()
            published, failed = await publishing
        head = await self.publish(5)
        await crowd.until(lambda: crowd.all_hold(head), self.timeout, "last events")
        joins: dict[str, int] = {}
        for viewer in crowd.viewers:
            for how in viewer.joins[before[id(viewer)] :]:
                joins[how] = joins.get(how, 0) + 1
        return StormResult(
            viewers=crowd.size,
            signal=self.signal_name,
            joined_s=round(joined_s, 2),
            gone_s=round(gone_s, 2),
            live_again_s=round(live_again_s, 2),
            back_s=round(live_again_s - gone_s, 2),
            refusals=crowd.refusals,
            refusals_storm=crowd.refusals - refusals_before,
            joins=joins,
            peak_rss_mb=round(peak_rss_mb(pid), 1),
            head=head,
            published_storm=published,
            publish_failures=failed,
            viewers_lag_s=round(crowd.lag_max_s, 2),
            problems=crowd.problems(),
            stories=crowd.stories(),
        )

    async def _publish_until(self, stop: asyncio.Event) -> tuple[int, int]:
        """One event every 50 ms until ``stop``: live traffic during the storm. How many were
        published, and how many attempts failed (the publishing node busy, say)."""
        published = failed = 0
        while not stop.is_set():
            try:
                await self.publish(1)
                published += 1
            except httpx.HTTPError:
                failed += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
        return published, failed


async def publisher(url: str, api_key: str, room: str) -> Callable[[int], Awaitable[int]]:
    """``publish(n)``: post ``n`` system messages to ``room`` through the node at ``url``."""
    client = httpx.AsyncClient(
        base_url=url, headers={"authorization": f"Bearer {api_key}"}, timeout=10.0
    )
    count = 0

    async def publish(n: int) -> int:
        nonlocal count
        offset = 0
        for _ in range(n):
            count += 1
            response = await client.post(f"/api/rooms/{room}/system", json={"text": f"m{count}"})
            response.raise_for_status()
            offset = int(response.json()["offset"])
        return offset

    return publish


# ---------------------------------------------------------------------- the command line


async def _main(args: argparse.Namespace) -> int:
    settings = {
        "max_conns_per_ip": 0,
        "admit_address_rate": 0,  # the storm comes from one address: the node's rate is tested
        "admit_rate": args.admit_rate,
        "admit_burst": args.admit_burst,
    }
    node = SpawnedServer(engine="redis", redis_url=args.redis_url, settings=settings)
    other = SpawnedServer(engine="redis", redis_url=args.redis_url, settings=settings)
    for shared in ("secret", "api_key", "prefix"):
        setattr(other, shared, getattr(node, shared))
    for spawned in (node, other):
        spawned.values.update(secret=node.secret, api_key=node.api_key, redis_prefix=node.prefix)
    sig = signal.SIGKILL if args.signal == "KILL" else signal.SIGTERM
    await node.start()
    await other.start()

    async def kill() -> None:
        assert node.proc is not None
        node.proc.send_signal(sig)
        await asyncio.to_thread(node.proc.wait, 30)

    async def restart() -> int:
        await node.start()
        assert node.proc is not None
        return node.proc.pid

    try:
        publish = await publisher(f"http://127.0.0.1:{other.port}", node.api_key, "storm")
        crowd = Crowd(node.port, "storm", node.secret, args.viewers)
        storm = Storm(crowd, kill, restart, publish, f"SIG{args.signal}")
        try:
            result = await storm.run()
        finally:
            await crowd.close()
    finally:
        node.stop()
        other.stop()
    body = {k: v for k, v in result.__dict__.items() if k not in ("problems", "stories")}
    body["problems"] = len(result.problems)
    body["cpus"] = os.cpu_count()
    body["loadavg"] = os.getloadavg()
    sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    for story in result.stories:
        sys.stderr.write(story + "\n")
    return 1 if result.problems else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.storm", description=__doc__.split("\n")[0])
    p.add_argument("--viewers", type=int, default=5000)
    p.add_argument("--signal", choices=["TERM", "KILL"], default="TERM")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--admit-rate", type=float, default=1000.0, help="LIVEROOM_ADMIT_RATE")
    p.add_argument("--admit-burst", type=int, default=1000, help="LIVEROOM_ADMIT_BURST")
    args = p.parse_args(argv)
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
