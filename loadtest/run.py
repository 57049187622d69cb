"""What every scenario shares: the server, the client pool, the room, phases with progress."""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from argparse import Namespace
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from loadtest import results
from loadtest.netns import ViewerNamespace
from loadtest.pool import Pool
from loadtest.receiver import FeedReceiver
from loadtest.server import (
    SetupError,
    SpawnedServer,
    Target,
    Usage,
    server_settings,
    target_from_url,
    wait_ready,
)

T = TypeVar("T")
#: a simulated commenter sends at most this many comments per second (servers limit each user)
COMMENTS_PER_USER_S = 0.5


class Run:
    """One run of one scenario against one server."""

    def __init__(
        self, scenario: str, opts: Namespace, target: Target, pool: Pool, console: Console
    ) -> None:
        self.scenario = scenario
        self.opts = opts
        self.target = target
        self.pool = pool
        self.console = console
        self.room = f"lt-{scenario}-{secrets.token_hex(4)}"
        self.base: Usage | None = None
        self.idle: Usage | None = None
        self.rss_series: list[list[float]] = []
        self.started = time.monotonic()

    # ------------------------------------------------------------------ phases

    async def phase(
        self, label: str, work: Awaitable[T], total: float, field: str | None = None
    ) -> T:
        """Await ``work`` with a progress bar: of ``field`` in the pool's progress counts, or of
        elapsed seconds when ``field`` is None."""
        task = asyncio.ensure_future(work)
        begin = time.monotonic()
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=self.opts.quiet,
        ) as bar:
            handle = bar.add_task(label, total=total, info="")
            while not task.done():
                await asyncio.wait({task}, timeout=0.25)
                counts = self.pool.totals()
                done = counts.get(field, 0) if field else min(time.monotonic() - begin, total)
                info = (
                    f"conn {counts.get('connected', 0):,}  delivered {counts.get('delivered', 0):,}"
                    f"  sent {counts.get('sent', 0):,}  err {counts.get('errors', 0):,}"
                )
                bar.update(handle, completed=done, info=info)
        return task.result()

    async def connect(
        self,
        count: int,
        prefix: str = "v",
        wait_snapshot: bool = True,
        concurrency: int | None = None,
        nobody_fails: bool = True,
    ) -> dict[str, Any]:
        """Connect ``count`` viewers spread over the client processes; wait for snapshots.

        When not one viewer got its snapshot there is nothing to run traffic for: unless
        ``nobody_fails`` is False (the join storm reports it as its result), the run stops here
        with the connection errors seen, rather than after a long, empty traffic phase."""
        shares = self.pool.split(count)
        per = []
        first = 0
        for share in shares:
            per.append({"users": [f"{prefix}{i}" for i in range(first, first + share)]})
            first += share
        conc = concurrency or self.opts.join_concurrency
        timeout = self.opts.connect_timeout
        answers = await self.phase(
            f"connecting {count:,}",
            self.pool.all(
                "connect",
                timeout + 30,
                per=per,
                room=self.room,
                concurrency=max(1, conc // self.pool.size),
                timeout=timeout,
                wait_snapshot=wait_snapshot,
            ),
            count,
            "snapshots" if wait_snapshot else "connected",
        )
        joined = {
            "opened": sum(a["opened"] for a in answers),
            "snapshots": sum(a["snapshots"] for a in answers),
            "open_s": max(a["open_s"] for a in answers),
            "all_s": max(a["all_s"] for a in answers),
        }
        if nobody_fails and wait_snapshot and count and not joined["snapshots"]:
            seen = (await self.report(0))["connect_errors"] or "none"
            raise SetupError(
                f"none of {count:,} viewers got a snapshot (connection errors: {seen}); "
                "check the server's address, --secret and the room"
            )
        if self.target.cap_now is not None:  # ``--quota-from traffic``: the viewers are in
            self.target.cap_now()
            self.target.cap_now = None
        return joined

    async def traffic(
        self,
        duration: float,
        comment_rate: float = 0.0,
        like_rate: float = 0.0,
        churn_rate: float = 0.0,
        bucket_s: float = 1.0,
    ) -> int:
        """Run traffic for ``duration`` seconds; return the newest offset it produced."""
        n = self.pool.size
        rate = comment_rate / n
        commenters = self.opts.commenters or math.ceil(rate / COMMENTS_PER_USER_S)
        sampler = asyncio.ensure_future(self.sample_rss()) if self.scenario == "soak" else None
        try:
            answers = await self.phase(
                f"{self.scenario} {duration:.0f}s",
                self.pool.all(
                    "traffic",
                    duration + 60,
                    t0=time.time(),
                    bucket_s=bucket_s,
                    duration=duration,
                    comment_rate=rate,
                    commenters=commenters,
                    like_rate=like_rate / n,
                    churn_rate=churn_rate / n,
                ),
                duration,
            )
        finally:
            if sampler is not None:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
        head = max(a["max_offset"] for a in answers)
        try:
            # the room's true head: also counts comments whose replies never came back
            head = max(head, await self.sentinel(0.2))
        except Exception as exc:  # no API key for a --url server: replies give the head
            self.console.print(f"[yellow]no sentinel event ({exc}); head from replies[/yellow]")
        return head

    async def drain(self, head: int) -> dict[str, int]:
        """Wait until every viewer holds ``head``; the viewers behind, the events they miss, and
        ``head``: the head drained to, the one to judge the viewers against (``report``).

        A drain also waits for the replies still owed. On a server still working through its
        queue when the traffic phase stopped waiting for them, such a reply names a comment
        past the head found then (the sentinel was published before it): the viewers are then
        drained to that one too, so that it is counted in ``expected`` and its loss would be
        seen. A drain that has to move the head is followed by another, up to 3 in all (each up
        to ``--drain-timeout``); the head returned is always one the viewers were drained to."""
        for last in (False, False, True):  # at most 3 drains; the head moves only between
            answers = await self.phase(
                "draining",
                self.pool.all(
                    "drain",
                    self.opts.drain_timeout + 10,
                    head=head,
                    timeout=self.opts.drain_timeout,
                ),
                self.opts.drain_timeout,
            )
            newest = max(a["max_offset"] for a in answers)
            if newest <= head or last:
                break
            head = newest
        return {
            "behind": sum(a["behind"] for a in answers),
            "missing": sum(a["missing"] for a in answers),
            "head": head,
        }

    async def report(self, head: int) -> dict[str, Any]:
        return results.merge(await self.pool.all("report", 60, head=head))

    async def sentinel(self, settle_s: float = 1.0) -> int:
        """Publish a system message once coalesced events (stock, counts) have gone out; its
        offset is the room's head, for ``drain``. Waits ``settle_s`` first: the stock throttle."""
        await asyncio.sleep(settle_s)
        answer = await self.target.http(
            "POST", f"/api/rooms/{self.room}/system", {"text": "load test: end"}
        )
        return int(answer.get("offset", 0))

    async def sample_rss(self) -> None:
        """Record the server's RSS every few seconds (soak)."""
        every = max(1.0, self.opts.duration / 100)
        while True:
            usage = self.target.usage()
            if usage is not None:
                self.rss_series.append(
                    [round(time.monotonic() - self.started, 1), round(usage.rss / 2**20, 1)]
                )
            await asyncio.sleep(every)

    async def shed(self) -> int:
        """Comments the server shed in this room (its stats), else from ``/metrics``."""
        try:
            stats = await self.target.http("GET", f"/api/rooms/{self.room}/stats")
            return int(stats.get("shed", 0))
        except Exception:
            value = await self.target.metric("liveroom_comments_shed")
            return int(value or 0)

    def usage(self) -> Usage | None:
        return self.target.usage()


@contextlib.asynccontextmanager
async def open_target(opts: Namespace) -> AsyncIterator[Target]:
    """The server to test: spawned (and stopped afterwards) or the one at ``--url``."""
    if opts.url and opts.spawn:
        raise SetupError("give --url or --spawn, not both")
    if not opts.spawn:
        if opts.netns:
            raise SetupError("--netns works with --spawn")
        if not opts.url:
            raise SetupError("give --spawn to start a server, or --url of a running one")
        target = target_from_url(opts.url, opts.secret, opts.api_key, opts.server_pid or [])
        await wait_ready(target, opts.connect_timeout)
        yield target
        return
    settings: dict[str, Any] = {}
    if opts.comment_cap is not None:
        settings["room_comment_cap"] = opts.comment_cap
    settings.update(server_settings(opts.server_setting))
    receiver = None
    if opts.feed:
        receiver = await FeedReceiver().start()
        receiver.open = not opts.feed_backlog
        settings["feed_endpoints"] = receiver.endpoints()
    namespace = ViewerNamespace().open() if opts.netns else None
    try:
        server = SpawnedServer(
            processes=opts.processes,
            engine=opts.engine,
            redis_url=opts.redis_url,
            tick_ms=opts.tick_ms,
            port=opts.port,
            settings=settings,
            profile=opts.profile,
            cpu_quota=opts.server_cpu_quota,
            quota_from_traffic=opts.quota_from == "traffic",
            host=namespace.host if namespace else "127.0.0.1",
        )
        try:
            target = await server.start()
            target.namespace = namespace
            target.feed = receiver
            yield target
        finally:
            await asyncio.to_thread(server.stop)
    finally:
        if namespace:
            namespace.close()
        if receiver is not None:
            await receiver.close()
