"""``create_app(settings)``: the ASGI app. Routes, middleware and lifespan; nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from liveroom import demo, http, metrics, openapi, tokens_api
from liveroom.auth import Identity
from liveroom.config import Settings
from liveroom.connection.expiry import ExpiryWatch
from liveroom.connection.gather import Gather
from liveroom.connection.handshake import websocket_endpoint
from liveroom.connection.session import CORE_HANDLERS, ConnectionHost, Session
from liveroom.context import (
    NO_ANALYTICS,
    AnalyticsSink,
    FollowGraph,
    NodeContext,
    RoomKicks,
    RoomSnapshots,
    ViewerJoins,
)
from liveroom.engine import engine_from_settings
from liveroom.engine.base import Engine
from liveroom.errors import ErrorCode
from liveroom.features import Dispatch, Feature
from liveroom.features.analytics import Analytics
from liveroom.features.cards import Cards
from liveroom.features.comments import Comments
from liveroom.features.coupons import Coupons
from liveroom.features.events import Feed
from liveroom.features.flashsale import FlashSale, FlashSaleFeature
from liveroom.features.groupbuy import GroupBuyFeature
from liveroom.features.keywords import KeywordGate
from liveroom.features.kicks import KicksFeature
from liveroom.features.luckybag import LuckyBags
from liveroom.features.private import PrivateTrafficFeature
from liveroom.features.redpacket import RedPackets
from liveroom.features.rooms import Rooms
from liveroom.features.stats import Stats
from liveroom.hub import Hub
from liveroom.limits import AddressRate, AdmissionRate, ConnectionCaps
from liveroom.logs import RequestIds
from liveroom.tasks import stop

log = logging.getLogger("liveroom")

#: how often a node asks its engine whether the store answers (``liveroom_engine_up``), and how
#: long it waits for the answer
ENGINE_WATCH_S = 2.0

# The demo pages and the JS client ship inside the package (package data), so a wheel serves them.
WEB_DIR = Path(__file__).resolve().parent / "web"
DEMO_DIR = WEB_DIR / "demo"


#: the features every node runs, in order: their commands, routes, snapshot parts and hooks
FEATURES: tuple[type[Feature], ...] = (
    Rooms,
    Comments,
    Stats,
    KicksFeature,
    Cards,
    FlashSaleFeature,
    GroupBuyFeature,
    Coupons,
    LuckyBags,
    RedPackets,
    Feed,
    Analytics,
    PrivateTrafficFeature,
)

F = TypeVar("F", bound=Feature)


class Node:
    """Everything one liveroom process runs: engine, hub and features. Lives on ``app.state``.

    It is the ``NodeContext`` its features are built with (``liveroom.context``). Its
    ``rooms`` and ``stats`` are what the connection layer uses of the rooms and stats features.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        features: tuple[type[Feature], ...] = FEATURES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        #: wall-clock time in seconds since the epoch (``NodeContext.now``): the clock itself,
        #: not a method around it, as it is read once or twice per comment
        self.now: Callable[[], float] = clock
        self.engine: Engine = engine or engine_from_settings(settings)
        self.hub = Hub(self.engine, settings)
        self.log = log
        self.sessions: set[Session] = set()
        self.expiries = ExpiryWatch(lambda: len(self.sessions))
        self.caps = ConnectionCaps(settings)
        #: new connections per second (``Settings.admit_rate``): past it, 1013 and retry_after
        self.admission = AdmissionRate(settings.admit_rate, settings.admit_burst)
        #: and per client address (``Settings.admit_address_rate``), checked first
        self.address_admission = AddressRate(
            settings.admit_address_rate, settings.admit_address_burst
        )
        #: joins under way at once (``Settings.joins_at_once``); the others wait their turn
        self.joins = asyncio.Semaphore(settings.joins_at_once)
        #: commands gathered for a few milliseconds, then run together (``connection/gather.py``)
        self.gather = Gather(
            settings.command_gather_ms / 1000,
            # the read hold ends by the next tick at the latest
            self.hub.next_tick_at
            if settings.command_gather_hold and self.engine.holds_reads
            else None,
        )
        if self.gather.hold_until is not None:
            self.hub.after_tick = self.gather.hold_again
        #: the node's flash sales, if it runs them: product cards read stock through this seam
        #: (``context.SaleStock``), the demo pays orders through it
        self.sales: FlashSale | None = None
        #: the host's analytics, if the node runs it: features report likes, cards, buys and
        #: payments through this seam (``context.AnalyticsSink``)
        self.analytics: AnalyticsSink = NO_ANALYTICS
        #: who follows each room's host, if the node runs the private-traffic feature
        #: (``context.FollowGraph``); coupons for followers ask it
        self.follows: FollowGraph | None = None
        context: NodeContext = self  # mypy holds Node to the context protocol here
        self.features: list[Feature] = [kind(context) for kind in features]
        self.sales = next((f.sales for f in self.features if isinstance(f, FlashSaleFeature)), None)
        self.analytics = next(
            (f.tally for f in self.features if isinstance(f, Analytics)), NO_ANALYTICS
        )
        self.follows = next(
            (f.traffic for f in self.features if isinstance(f, PrivateTrafficFeature)), None
        )
        self.dispatch = Dispatch(CORE_HANDLERS, self.features)
        #: the features that listen to posted comments, so the others (whose hooks are the
        #: contract's empty defaults) cost a comment nothing: ``listeners`` hear every comment,
        #: the keyword features (``keyword_max``) only one short enough to be a keyword of
        #: theirs, through ``keywords``, the gate that asks them together
        listening = [
            f
            for f in self.features
            if type(f).commented is not Feature.commented or type(f).heard is not Feature.heard
        ]
        self.listeners = [f for f in listening if f.keyword_max is None]
        self.keywords = KeywordGate(
            self.hub.rooms, [f for f in listening if f.keyword_max is not None]
        )
        #: the features that hear joins and leaves: asked once per join and per leave, so the
        #: others (the contract's empty defaults) cost a join no coroutine and a leave no call
        self.joiners = [f for f in self.features if type(f).joined is not Feature.joined]
        self.leavers = [f for f in self.features if type(f).left is not Feature.left]
        self.payment_listeners = [
            f for f in self.features if type(f).order_paid is not Feature.order_paid
        ]
        directory = _one(self.features, Rooms).directory
        self.rooms: RoomSnapshots = directory
        self.stats: ViewerJoins = _one(self.features, Stats).numbers
        self.kicks: RoomKicks = _one(self.features, KicksFeature).kicks
        #: every error code this node answers with: the core's, then each feature's
        self.error_codes: list[Enum] = [*ErrorCode]
        for feature in self.features:
            directory.snapshot_parts.append(feature.snapshot)
            self.hub.critical |= feature.critical_events
            for kind in feature.watched_events:
                self.hub.watchers.setdefault(kind, []).append(feature.relayed)
            self.hub.closing.update(feature.closing_events)
            self.error_codes += [code for kind in feature.error_codes for code in kind]
        self.ready = False
        self.draining = False
        self._engine_watch: asyncio.Task[None] | None = None

    def comment_posted(
        self, room: str, who: Identity, text: str, after: int | None = None
    ) -> Awaitable[None] | None:
        text = text.strip()
        asked: list[Feature] = []
        for feature in self.listeners:
            if feature.heard(room, who, text, after):
                asked.append(feature)
        if 0 < len(text) <= self.keywords.longest:
            self.keywords.ask(room, who, text, after, asked)
        return self._commented(asked, room, who, text, after) if asked else None

    async def _commented(
        self, asked: list[Feature], room: str, who: Identity, text: str, after: int | None
    ) -> None:
        for feature in asked:
            await feature.commented(room, who, text, after)

    async def commented(
        self, room: str, who: Identity, text: str, after: int | None = None
    ) -> None:
        """``comment_posted``, and what it returns awaited: both parts of the comment hook at
        once, for a caller outside the command path (tests, scripts)."""
        pending = self.comment_posted(room, who, text, after)
        if pending is not None:
            await pending

    async def order_paid(self, room: str, user: str, order: dict[str, Any]) -> None:
        for feature in self.payment_listeners:
            try:
                await feature.order_paid(room, user, order)
            except Exception:
                # the payment stands whatever a listener does; its failure is its own
                self.log.exception("%s: order_paid failed", feature.name)

    async def open(self) -> None:
        metrics.NODE.labels(node=self.settings.node_id).set(1)
        await self.engine.open()
        await self.hub.open()
        for feature in self.features:
            await feature.open()
        self._engine_watch = asyncio.create_task(self._watch_engine(), name="liveroom-engine-up")
        self.ready = True

    async def _watch_engine(self) -> None:
        """Ask the engine whether its store answers every ``ENGINE_WATCH_S``, and say so in
        ``liveroom_engine_up``: a scrape of ``/metrics`` then reads it with no round trip, and
        the gauge does not wait for a ``/readyz`` probe (the shipped image's health check asks
        ``/healthz``). A store that has not answered within ``ENGINE_WATCH_S`` (a Redis frozen,
        or cut off with no reset) is down too. The question is never cancelled: a cancel inside
        redis-py's Cluster client, while it reloads the slot map, closes every connection of
        the client, those of other commands too. Its own socket timeout ends it, and a new one
        is asked only once it has."""
        asking: asyncio.Task[bool] | None = None
        up: bool | None = None
        try:
            while True:
                if asking is None:
                    asking = asyncio.create_task(self.engine.ping(), name="liveroom-engine-ping")
                done, _ = await asyncio.wait({asking}, timeout=ENGINE_WATCH_S)
                answered = False
                if done:
                    try:
                        answered = asking.result()
                    except Exception:
                        if up is not False:  # once a change, not every 2 s
                            log.exception("asking the engine whether it answers failed")
                    asking = None
                up = answered
                metrics.ENGINE_UP.set(1 if up else 0)
                await asyncio.sleep(ENGINE_WATCH_S)
        finally:
            await stop([asking])

    async def close(self) -> None:
        self.ready = False
        self.draining = True
        await stop([self._engine_watch])
        self.hub.shutdown()
        self.gather.close()  # the window under way ends now, not on a timer after the close
        self.expiries.close()
        for feature in reversed(self.features):
            await feature.close()
        await self.hub.close()
        await self.engine.close()


def _one(features: list[Feature], kind: type[F]) -> F:
    """The one feature of class ``kind`` among a node's ``features``, which every node runs."""
    found = [feature for feature in features if isinstance(feature, kind)]
    if len(found) != 1:
        raise ValueError(f"a node runs exactly one {kind.__name__} feature, not {len(found)}")
    return found[0]


async def healthz(request: Request) -> Response:
    """Liveness: the process answers. For container health checks.
    ---
    tags: [ops]
    responses:
      "200":
        description: alive
        content: {application/json: {schema: {type: object, properties: {ok: {const: true}}}}}
    """
    return http.json_response({"ok": True})


async def readyz(request: Request) -> Response:
    """Readiness: open, not draining, and the engine answers. For load balancers.
    ---
    tags: [ops]
    responses:
      "200": &ready
        description: ready to take connections
        content:
          application/json:
            schema:
              type: object
              required: [ready, engine, node]
              properties: {ready: {type: boolean}, engine: {type: string}, node: {type: string}}
      "503": {<<: *ready, description: "not ready: starting, draining, or the engine is down"}
    """
    node: Node = request.app.state.node
    up = node.ready and not node.draining and await node.engine.ping()
    return http.json_response(
        {"ready": up, "engine": node.settings.engine, "node": node.settings.node_id},
        200 if up else 503,
    )


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics.
    ---
    tags: [ops]
    responses:
      "200":
        description: metrics in the Prometheus text format
        content: {text/plain: {schema: {type: string}}}
    """
    node: Node = request.app.state.node
    metrics.ROOMS.set(len(node.hub.rooms))
    metrics.VIEWERS.set(node.hub.viewer_count())  # here, not per join or leave: it sums rooms
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """Build the liveroom ASGI app. Mount it anywhere; it opens its engine in its lifespan.

    ``engine`` may be injected (a ``RedisEngine`` built on the shop's own client, say);
    ``clock`` is the features' wall clock (``NodeContext.now``), injected by tests that must
    not wait out minutes.
    """
    settings = settings or Settings.from_env()
    if not settings.secret:
        log.warning("no LIVEROOM_SECRET: tokens are signed with a random secret for this process")
        settings = settings.replace(secret=secrets.token_urlsafe(32))
    node = Node(settings, engine, clock=clock)
    _host: ConnectionHost = node  # mypy holds the node to what the connection layer needs

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.open()
        try:
            yield
        finally:
            await node.close()

    routes: list[Any] = [
        WebSocketRoute("/ws", websocket_endpoint),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
        *tokens_api.routes(),
        *(route for feature in node.features for route in feature.routes()),
    ]
    if settings.demo:
        routes += demo.routes(node.sales)
        demo_dir = Path(settings.demo_dir) if settings.demo_dir else DEMO_DIR
        if demo_dir.is_dir():
            routes.append(Mount("/demo", StaticFiles(directory=demo_dir, html=True), name="demo"))
            # the pages import the packaged JS client; web/client links to clients/js/src
            client = StaticFiles(directory=WEB_DIR / "client", follow_symlink=True)
            routes.append(Mount("/client", client, name="client"))
        else:
            log.warning("demo pages not found at %s (set LIVEROOM_DEMO_DIR)", demo_dir)
    middleware = [Middleware(RequestIds, node_id=settings.node_id)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.node = node
    return app


def app_from_env() -> Starlette:
    """Factory for ``liveroom serve`` worker processes: settings from ``LIVEROOM_*``; the
    process is the server's own, so its garbage collector is tuned too (``tune_gc``)."""
    settings = Settings.from_env()
    app = create_app(settings)
    tune_gc(settings.gc_levels)
    return app


def tune_gc(levels: tuple[int, int, int] | None) -> None:
    """Set the collector's thresholds, and freeze what is alive now (modules, classes, the
    app) so that no later collection walks it again.

    Each viewer holds a few dozen objects the cyclic collector tracks. With Python's default
    thresholds a full collection comes every few hundred milliseconds under load and walks them
    all: 40-120 ms with thousands of viewers, during which nothing is sent. Higher thresholds
    make full collections rare; reference counting still frees nearly everything at once.
    """
    if levels is None:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*levels)
