"""The ``Deliverer``: webhook delivery of the outboxes, on every node, in order per lane.

Lanes and leases are described in ``source.py``. This module does the sending:

- a supervisor (``_supervise``) looks every half second for rooms and endpoints, and starts a
  worker for each lane it can lease;
- a worker reads its lane every ``feed_poll_s`` (a quiet one less often, down to once a
  second; the memory engine wakes it at once) (what it read and did not acknowledge first,
  then new events), sends
  them as one signed POST (one event, or a batch when several waited: the receiver lagged),
  retries with exponential backoff and jitter, acknowledges on a 2xx, and after
  ``feed_attempts`` failures, or at once on a 4xx other than 408 and 429, moves them to the
  dead letter; it renews its lease while it works and stops when it loses it;
- a trimmer (``_trim``) bounds every outbox by count and age and reports every consumer group
  that lost events to the bound (log and ``liveroom_feed_skipped``).

Sending has its own bounds, apart from the rooms: at most ``feed_concurrency`` requests in
flight per process, each cut off after ``feed_timeout_s``; redirects are never followed (a 3xx
is a failure, retried). A receiver that hangs holds only its own lanes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx
import orjson

from liveroom import metrics
from liveroom.engine.outbox import Entry, event_id
from liveroom.errors import EngineUnavailable
from liveroom.features.events import signing
from liveroom.features.events.endpoints import Endpoint, secret_key
from liveroom.features.events.source import FeedSource
from liveroom.tasks import stop

log = logging.getLogger("liveroom.feed")

#: seconds between two looks for rooms, endpoints and free lanes
SURVEY_S = 0.5
#: the longest a quiet lane waits between two reads
QUIET_POLL_S = 1.0


class Outcome(Enum):
    OK = "ok"
    RETRY = "retry"  # 5xx, 408, 429, 3xx, timeout, connection refused or reset
    REFUSED = "refused"  # another 4xx: the receiver will not take it, retrying cannot help


@dataclass(slots=True)
class EndpointHealth:
    """What the console shows of one endpoint (never its secret)."""

    delivered: int = 0
    failures: int = 0
    dead: int = 0
    streak: int = 0  # failures since the last success
    last_ok: float = 0.0
    last_error: str = ""
    last_error_at: float = 0.0

    def public(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failures": self.failures,
            "dead": self.dead,
            "failing_streak": self.streak,
            "last_ok": self.last_ok or None,
            "last_error": self.last_error or None,
            "last_error_at": self.last_error_at or None,
        }


@dataclass(slots=True)
class Health:
    delivered: int = 0
    attempts: int = 0
    failures: int = 0
    dead: int = 0
    skipped: int = 0
    lag_s: float = 0.0
    trimmed: int = 0
    by_endpoint: dict[str, EndpointHealth] = field(default_factory=dict)


def message(entries: list[Entry]) -> tuple[str, bytes]:
    """``(webhook-id, body)`` of one request: a single event as itself, several as a batch
    (``{"type": "batch", "events": [...]}``); each event carries its own ``id``, the
    idempotency key. The same entries always make the same message."""
    if len(entries) == 1:
        entry = entries[0]
        return event_id(entry.room, entry.id), orjson.dumps(entry.event())
    first = entries[0]
    msg_id = f"batch_{event_id(first.room, first.id)}_{len(entries)}"
    return msg_id, orjson.dumps({"type": "batch", "events": [e.event() for e in entries]})


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before retry ``attempt`` (1: the first retry): exponential, capped, with "full
    jitter" over its upper half so that many lanes failing together do not retry in step."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling / 2 + rng.random() * ceiling / 2


class Deliverer:
    """Delivers every outbox this node can lease to the endpoints that hear it."""

    def __init__(
        self,
        source: FeedSource,
        settings: Any,
        owner: str,
        env_endpoints: list[Endpoint],
        rng: random.Random | None = None,
    ) -> None:
        self.source = source
        self.settings = settings
        self.owner = owner
        self.env_endpoints = env_endpoints
        self.rng = rng or random.Random()
        self.health = Health()
        self.endpoints: dict[str, Endpoint] = {e.id: e for e in env_endpoints}
        self._keys: dict[str, bytes] = {}
        self._lanes: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(settings.feed_concurrency)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None

    @property
    def lanes(self) -> int:
        """Lanes this process delivers now."""
        return len(self._lanes)

    def kick(self, room: str = "") -> None:
        """New events may be waiting: look now rather than at the next poll. Wakes every
        waiting lane and the supervisor (each waits on the event current when it started)."""
        woken, self._wake = self._wake, asyncio.Event()
        woken.set()

    async def open(self) -> None:
        n = self.settings.feed_concurrency
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the URL is where it goes
            timeout=httpx.Timeout(self.settings.feed_timeout_s),
            limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
        )
        self._tasks = [
            asyncio.create_task(self._supervise(), name="feed-supervisor"),
            asyncio.create_task(self._trim(), name="feed-trim"),
        ]

    async def close(self) -> None:
        """Stop delivering, and give the lanes back so that another node takes them at once
        rather than after the lease (what was read and not acknowledged goes with them)."""
        await stop([*self._tasks, *self._lanes.values()])
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                for room, endpoint in self._lanes:
                    await self.source.release(room, endpoint, self.owner)
        self._lanes.clear()
        if self._client is not None:
            await self._client.aclose()

    # ------------------------------------------------------------------ supervision

    async def refresh_endpoints(self) -> None:
        """Read the API's endpoints again (the environment's never change)."""
        found = {e.id: e for e in self.env_endpoints}
        for endpoint in await self.source.endpoints():
            found[endpoint.id] = endpoint
        self.endpoints = found

    async def _supervise(self) -> None:
        # new rooms and endpoints, and lanes whose holder died, are picked up within a second
        interval = SURVEY_S
        while True:
            try:
                await self._survey()
            except EngineUnavailable as exc:
                log.warning("feed: shared state unreachable: %s", exc)
            except Exception:
                log.exception("feed: supervisor pass failed")
            await self._nap(interval)

    async def _survey(self) -> None:
        await self.refresh_endpoints()
        for key, task in list(self._lanes.items()):
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("feed: lane %s/%s failed", *key, exc_info=task.exception())
            if task.done() or key[1] not in self.endpoints:
                task.cancel()
                del self._lanes[key]
        if not self.endpoints:
            return
        rooms = await self.source.rooms()
        known = set(rooms)
        for key, task in list(self._lanes.items()):
            if key[0] not in known:  # the room was dropped from the outbox registry
                task.cancel()
                del self._lanes[key]
                await self.source.release(key[0], key[1], self.owner)
        for room in rooms:
            for endpoint in self.endpoints.values():
                key = (room, endpoint.id)
                if not endpoint.hears(room) or key in self._lanes:
                    continue
                if await self.source.lease(
                    room, endpoint.id, self.owner, self.settings.feed_claim_s
                ):
                    self._lanes[key] = asyncio.create_task(
                        self._lane(room, endpoint.id), name=f"feed-{room}-{endpoint.id}"
                    )

    async def _nap(self, seconds: float) -> None:
        """Wait ``seconds``, or less when ``kick`` is called."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    # ------------------------------------------------------------------ one lane

    async def _lane(self, room: str, endpoint_id: str) -> None:
        """Deliver ``room`` to one endpoint while this node holds the lease."""
        s = self.settings
        renew_every = s.feed_claim_s / 3
        renewed = time.monotonic()
        claimed_at = 0.0
        opened = False
        idle = 0
        while True:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is None:
                return
            try:
                if time.monotonic() - renewed >= renew_every:
                    if not await self.source.lease(room, endpoint_id, self.owner, s.feed_claim_s):
                        log.info("feed: lane %s/%s now delivered elsewhere", room, endpoint_id)
                        return
                    renewed = time.monotonic()
                if not opened:
                    await self.source.open_lane(room, endpoint_id, endpoint.created)
                    # The lease was free: its last holder stopped renewing it for its whole
                    # TTL (dead, or cut off, and then it stops on its next renewal). What it
                    # read and did not acknowledge is taken over before anything new is read,
                    # however recently it read it, so the room's order holds.
                    self._took(
                        room,
                        endpoint_id,
                        await self.source.claim(room, endpoint_id, self.owner, 0.0),
                    )
                    opened = True
                    claimed_at = time.monotonic()
                if time.monotonic() - claimed_at >= renew_every:
                    # a safety net: anything another owner left idle past the lease's TTL
                    self._took(
                        room,
                        endpoint_id,
                        await self.source.claim(room, endpoint_id, self.owner, s.feed_claim_s),
                    )
                    claimed_at = time.monotonic()
                read = await self.source.read(room, endpoint_id, self.owner, s.feed_batch)
                if read.skipped:
                    self._skipped(room, f"wh:{endpoint_id}", read.skipped)
                if not read.entries:
                    # a quiet room is looked at less and less often, up to once a second
                    idle = min(idle + 1, 5)
                    await self._nap(min(s.feed_poll_s * 2 ** (idle - 1), QUIET_POLL_S))
                    continue
                idle = 0
                wanted = [e for e in read.entries if endpoint.wants(e.type)]
                if wanted:
                    renewed = await self._deliver(room, endpoint, wanted, renewed)
                    if renewed < 0:
                        return
                await self.source.ack(room, endpoint_id, [e.id for e in read.entries])
                if wanted and len(read.entries) < s.feed_batch:
                    # A busy room's events gather for a moment into the next request rather
                    # than cost one each: in a buy storm that is a request per lane every
                    # feed_poll_s, not one per order. A full batch means a backlog: go on.
                    await asyncio.sleep(s.feed_poll_s)
            except EngineUnavailable as exc:
                log.warning("feed: lane %s/%s waits for shared state: %s", room, endpoint_id, exc)
                await asyncio.sleep(min(1.0, s.feed_claim_s / 3))

    def _took(self, room: str, endpoint_id: str, taken: int) -> None:
        if taken:
            log.info("feed: took over %d events of %s/%s", taken, room, endpoint_id)

    async def _deliver(
        self, room: str, endpoint: Endpoint, entries: list[Entry], renewed: float
    ) -> float:
        """Send until the receiver takes it or it is buried; the time the lease was last
        renewed, or -1 when it was lost meanwhile (another node delivers from here)."""
        s = self.settings
        stats = self.health.by_endpoint.setdefault(endpoint.id, EndpointHealth())
        attempt = 0
        while True:
            attempt += 1
            outcome, reason = await self.post(endpoint, entries)
            now = time.time()
            if outcome is Outcome.OK:
                self.health.delivered += len(entries)
                stats.delivered += len(entries)
                stats.streak = 0
                stats.last_ok = now
                metrics.FEED_DELIVERED.inc(len(entries))
                lag = now - entries[0].ts_ms / 1000
                self.health.lag_s = max(0.0, now - entries[-1].ts_ms / 1000)
                for entry in entries:
                    metrics.FEED_LAG.observe(max(0.0, now - entry.ts_ms / 1000))
                if lag > 60:
                    log.info("feed: %s/%s delivered %.0f s late", room, endpoint.id, lag)
                return renewed
            self.health.failures += 1
            stats.failures += 1
            stats.streak += 1
            stats.last_error, stats.last_error_at = reason, now
            metrics.FEED_FAILURES.labels(reason.split(" ")[0]).inc()
            if outcome is Outcome.REFUSED or attempt >= s.feed_attempts:
                await self.source.bury(endpoint.id, entries, reason, attempt)
                self.health.dead += len(entries)
                stats.dead += len(entries)
                metrics.FEED_DEAD.inc(len(entries))
                log.warning(
                    "feed: %d events of %s to endpoint %s dead-lettered after %d attempts: %s",
                    len(entries), room, endpoint.id, attempt, reason,
                )  # fmt: skip
                return renewed
            delay = backoff(attempt, s.feed_backoff_s, s.feed_backoff_max_s, self.rng)
            deadline = time.monotonic() + delay
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                await asyncio.sleep(min(left, s.feed_claim_s / 3))
                if time.monotonic() - renewed >= s.feed_claim_s / 3:
                    if not await self.source.lease(room, endpoint.id, self.owner, s.feed_claim_s):
                        return -1.0
                    renewed = time.monotonic()

    async def post(self, endpoint: Endpoint, entries: list[Entry]) -> tuple[Outcome, str]:
        """One signed POST of ``entries`` to ``endpoint``: its outcome and, on failure, why."""
        assert self._client is not None, "Deliverer.open() first"
        msg_id, body = message(entries)
        key = self._keys.get(endpoint.secret)
        if key is None:
            key = self._keys[endpoint.secret] = secret_key(endpoint.secret)
        headers = signing.headers(key, msg_id, int(time.time()), body)
        self.health.attempts += 1
        metrics.FEED_ATTEMPTS.inc()
        try:
            async with self._slots:
                response = await asyncio.wait_for(
                    self._client.post(endpoint.url, content=body, headers=headers),
                    self.settings.feed_timeout_s,
                )
        except (TimeoutError, httpx.TimeoutException):
            return Outcome.RETRY, "timeout"
        except httpx.HTTPError as exc:
            return Outcome.RETRY, f"connect {type(exc).__name__}"
        status = response.status_code
        if 200 <= status < 300:
            return Outcome.OK, ""
        if 300 <= status < 400:
            return Outcome.RETRY, f"redirect {status} (not followed)"
        if status in (408, 429) or status >= 500:
            return Outcome.RETRY, f"status {status}"
        return Outcome.REFUSED, f"status {status}"

    # ------------------------------------------------------------------ bounds

    async def _trim(self) -> None:
        s = self.settings
        while True:
            await asyncio.sleep(s.feed_trim_s)
            try:
                trimmed = await self.source.trim(s.feed_outbox_len, s.feed_outbox_age_s)
                self.health.trimmed += trimmed.removed
                for (room, group), lost in trimmed.behind.items():
                    self._skipped(room, group, lost)
                metrics.FEED_DEAD_NOW.set(await self.source.dead_count())
            except EngineUnavailable as exc:
                log.warning("feed: trim waits for shared state: %s", exc)
            except Exception:
                log.exception("feed: trim pass failed")

    def _skipped(self, room: str, group: str, lost: int) -> None:
        self.health.skipped += lost
        metrics.FEED_SKIPPED.inc(lost)
        log.error(
            "feed: consumer group %s of room %s fell behind the outbox bound: %d events were "
            "trimmed before it read them (raise feed_outbox_len / feed_outbox_age_s, or fix "
            "the consumer)",
            group,
            room,
            lost,
        )
