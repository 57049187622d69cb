"""The host's analytics: live diagnosis while on air, and the report after (docs/analytics.md).

No feature imports this one. It hears the others through the ``liveroom.context.AnalyticsSink``
seam (likes, cards, buys, payments), and joins, leaves and comments through the feature hooks:

- ``tally.py``: ``Tally``, the node's in-memory counts (the sink), drained once per pulse;
- ``store.py``: ``AnalyticsStore`` and ``RoomData``; ``store_memory.py``, ``store_redis.py``
  with ``lua/analytics_*.lua``: one atomic write per room per node per pulse;
- ``report.py``: the report computed from a room's data (no I/O); ``export.py``: as CSV;
- ``commands.py``: ``share``; ``routes.py``: the report, its CSV and the ad spend.

Settings: ``analytics`` (off: nothing is counted), ``analytics_keep_days``, ``analytics_k``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.errors import CommandError, EngineUnavailable, ErrorCode
from liveroom.features import Feature, Handler
from liveroom.features.analytics import report
from liveroom.features.analytics.commands import ShareLive
from liveroom.features.analytics.routes import AnalyticsRoutes
from liveroom.features.analytics.store import AnalyticsStore
from liveroom.features.analytics.tally import Batch, Tally, hour_of, source_of
from liveroom.protocol import Command
from liveroom.tasks import stop

if TYPE_CHECKING:
    from liveroom.connection.session import Session
    from liveroom.engine.base import Engine, MemoryHost
    from liveroom.engine.redis_core import RedisCore

__all__ = ["Analytics", "analytics_store"]

log = logging.getLogger("liveroom.analytics")

#: a report built less than this long ago (by the clock) is served again: however many consoles
#: poll a room, a node builds its report at most about once a second
REPORT_REUSE_S = 1.0


def analytics_store(engine: Engine) -> AnalyticsStore:
    """The analytics store for ``engine``: in its memory, or in its Redis."""

    def memory(host: MemoryHost) -> AnalyticsStore:
        from liveroom.features.analytics.store_memory import MemoryAnalytics

        return MemoryAnalytics()

    def redis(core: RedisCore) -> AnalyticsStore:
        from liveroom.features.analytics.store_redis import RedisAnalytics

        return RedisAnalytics(core)

    return engine.store(memory=memory, redis=redis)


class Analytics(Feature):
    """Counts what happens in each room on this node (``tally``, the node's
    ``AnalyticsSink``), writes it once per pulse, and serves the report."""

    name = "analytics"

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        settings = ctx.settings
        self.tally = Tally(ctx.now, enabled=settings.analytics)
        self.store = analytics_store(ctx.engine)
        self.keep_s = settings.analytics_keep_days * 86400
        #: an open interval of a node not seen for this long ends when it was last seen
        #: (``report.last_seen``)
        self.stale_s = max(3 * settings.pulse_s, settings.node_ttl_s)
        #: a quiet room is written this often (a room with something new is written at the
        #: next pulse); the node's beat, every pulse, keeps its intervals open in between
        self.heartbeat_s = report.QUIET_WRITE_S
        self._writer: asyncio.Task[None] | None = None
        #: one flush at a time, so a room's batches reach the store in the order drained
        self._flushing = asyncio.Lock()
        #: room -> (when built, report); emptied by every write of this node
        self._reports: dict[str, tuple[float, dict[str, Any]]] = {}

    def commands(self) -> Mapping[type[Command], Handler]:
        return {ShareLive: self.handle_share}

    def routes(self) -> list[BaseRoute]:
        return AnalyticsRoutes(self).routes()

    async def open(self) -> None:
        if self.tally.enabled:
            self._writer = asyncio.create_task(self._write_loop(), name="liveroom-analytics")

    async def close(self) -> None:
        await stop([self._writer])
        self.tally.close_all()
        with contextlib.suppress(EngineUnavailable):
            await self.flush()

    # ------------------------------------------------------------------ hooks

    @staticmethod
    def _counted(who: Identity) -> bool:
        """Viewers are counted (anonymous ones too); hosts and admins are not."""
        return not who.staff

    async def joined(self, session: Session) -> None:
        if not self._counted(session.who):
            return
        ws = session.ws  # the handshake's request: still there while features hear the join
        source = source_of(ws.query_params.get("src") if ws is not None else None)
        host = session.room.info.get("host") if session.room.info else None
        self.tally.joined(
            session.room.id,
            session.who.user,
            source,
            session.who.traits,
            host if isinstance(host, str) else "",
            session.who.anonymous,
        )

    def left(self, session: Session) -> None:
        if self._counted(session.who):
            self.tally.left(session.room.id, session.who.user, session.who.anonymous)

    def heard(self, room: str, who: Identity, text: str, after: int | None) -> bool:
        if not who.staff:  # (``_counted``, without the call: once per comment)
            self.tally.commented(room, who.user)
        return False  # counted: nothing to await

    async def handle_share(self, session: Session, command: ShareLive) -> dict[str, Any]:
        if self._counted(session.who):
            self.tally.shared(session.room.id, session.who.user)
        return {}

    # ------------------------------------------------------------------ the write

    async def _write_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.settings.pulse_s)
            try:
                await self.flush()
            except Exception:
                log.exception("analytics write failed")

    async def flush(self, heartbeat_s: float | None = None) -> None:
        """Write every room's pending tally (quiet rooms every ``heartbeat_s``), one store call
        per room, all rooms at once. The rooms with no newcomer (nearly all, on most pulses)
        go in one ``write_many``: on a standalone Redis their calls fill pipelines, with no
        task per room. A room with newcomers first reads whether they are returning, so it is
        written on its own, beside. A batch that cannot be written now goes back into the
        tally for the next pulse. Beside them goes the node's beat, one write that keeps the
        open intervals of all its rooms live (``report.last_seen``)."""
        async with self._flushing:
            self._reports.clear()
            beat = self.heartbeat_s if heartbeat_s is None else heartbeat_s
            batches = self.tally.drain(beat)
            plain = [batch for batch in batches if not batch.newcomers]
            joined = [batch for batch in batches if batch.newcomers]
            node = self.ctx.settings.node_id
            writes: list[Awaitable[Any]] = [
                self.store.write_many(plain, node, self.keep_s),
                *(self._write(batch) for batch in joined),
            ]
            beating = bool(self.tally.rooms)  # a room with viewers here (``drain``)
            if beating:  # one write for all of them: their quiet stretches (``last_seen``)
                writes.append(self.store.beat(node, self.ctx.now(), self.keep_s))
            done = await asyncio.gather(*writes, return_exceptions=True)
            if beating:
                answer = done.pop()
                if isinstance(answer, Exception) and not isinstance(answer, EngineUnavailable):
                    log.error("analytics beat failed", exc_info=answer)
            outcomes = done[0] if isinstance(done[0], list) else [done[0]] * len(plain)
            for batch, result in zip(plain + joined, [*outcomes, *done[1:]], strict=True):
                if isinstance(result, EngineUnavailable):
                    self.tally.restore(batch)
                elif isinstance(result, BaseException):
                    log.error("analytics write of %s failed", batch.room, exc_info=result)

    async def _write(self, batch: Batch) -> None:
        users = list(batch.newcomers)
        back: list[bool | None] = [None] * len(users)
        if batch.host and users:
            # a guest's id is new with each connection: never returning, and not noted among
            # the host's viewers, where it would be kept for nothing (for good, on the memory
            # engine; on Redis as long as the host has viewers)
            known = [user for user in users if not batch.newcomers[user].guest]
            found = (
                await self.store.returning(batch.host, batch.room, known, self.keep_s)
                if known
                else []
            )
            seen = dict(zip(known, found, strict=True))
            back = [seen.get(user, False) for user in users]
        profiles = {
            user: (
                batch.newcomers[user].at,
                report.profile_of(
                    batch.newcomers[user].source, dict(batch.newcomers[user].traits), flag
                ),
            )
            for user, flag in zip(users, back, strict=True)
        }
        await self.store.write(batch, self.ctx.settings.node_id, profiles, self.keep_s)

    # ------------------------------------------------------------------ reading

    async def report(self, room: str) -> dict[str, Any]:
        """The room's report now; ``not_found`` when nothing was ever counted for it.

        Building it is linear in the room's viewers and minutes, so it runs in a worker thread
        (the event loop, and with it the fan-out, keeps its turns), and a report built within
        ``REPORT_REUSE_S`` that no write of this node has outdated is served again.
        """
        now = self.ctx.now()
        cached = self._reports.get(room)
        if cached is not None and 0 <= now - cached[0] < REPORT_REUSE_S:
            return cached[1]
        data = await self.store.read(room, now)
        if data is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no analytics for room {room!r}")
        info = await self.ctx.rooms.info(room)
        built = await asyncio.to_thread(
            report.build,
            room,
            data,
            now=round(now, 3),
            k=self.ctx.settings.analytics_k,
            stale_s=self.stale_s,
            ended=bool(info.get("ended")),
        )
        if len(self._reports) >= 256:
            self._reports.clear()
        self._reports[room] = (now, built)
        return built

    async def add_spend(self, room: str, cents: int, at: float | None) -> int:
        """Add ``cents`` of ad spend to the hour of ``at`` (default now); that hour's start."""
        now = self.ctx.now()
        hour = hour_of(now if at is None else at)
        await self.store.add_spend(room, hour, cents, round(now, 3), self.keep_s)
        self._reports.pop(room, None)
        return hour
