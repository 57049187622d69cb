"""Prometheus metrics, defined once. Served at ``/metrics``."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

CONNECTIONS = Gauge("liveroom_connections", "Open WebSocket connections on this process")
VIEWERS = Gauge("liveroom_viewers", "Viewers in local rooms on this process")
ROOMS = Gauge("liveroom_rooms", "Local rooms on this process")
FRAMES_OUT = Counter("liveroom_frames_out", "Room frames written to viewers")
EVENTS_OUT = Counter("liveroom_events_out", "Events delivered to viewers, summed over frames")
TICK_OVERRUNS = Counter(
    "liveroom_tick_overruns",
    "Ticks skipped because the flushes before them ran past their due time",
)
GATHER_HOLD_SECONDS = Counter(
    "liveroom_gather_hold_seconds",
    "Time the node's thread slept while a command window was open, so that the frames that"
    " came meanwhile were read in one wake-up (connection/gather.py, the read hold;"
    " by the event loop's millisecond clock)",
)
PULSE_SECONDS = Gauge(
    "liveroom_pulse_seconds",
    "How long the last pulse of every local room took, engine round trips included",
)
SHED = Counter("liveroom_comments_shed", "Comments not broadcast because the room was over its cap")
SKIPPED = Counter(
    "liveroom_comments_skipped", "Comments skipped for viewers over their buffer bound"
)
SLOW_CLOSES = Counter("liveroom_slow_consumer_closes", "Connections closed as slow consumers")
NODE = Gauge(
    "liveroom_node",
    "Always 1, labelled with this process' node id: which node answered the scrape",
    ["node"],
)
SHORT_SENDS = Counter(
    "liveroom_short_sends",
    "Direct socket sends the kernel did not take whole; the rest waited in uvloop's buffer",
)


class _CommandCounts:
    """``liveroom_commands_total``, by ``type``: client commands handled. The session counts
    into ``COMMANDS_SEEN`` as plain integers, read at each scrape: prometheus_client's ``inc``
    takes a lock and checks its labels, a measurable share of a comment's CPU."""

    def __init__(self) -> None:
        self.seen: defaultdict[str, int] = defaultdict(int)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = self._family()
        for kind, count in list(self.seen.items()):
            family.add_metric([kind], count)
        yield family

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield self._family()

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily("liveroom_commands", "Client commands handled", labels=["type"])


COMMANDS = _CommandCounts()
REGISTRY.register(COMMANDS)
#: ``COMMANDS_SEEN[type] += 1`` per command handled
COMMANDS_SEEN = COMMANDS.seen


class _CommentDelays:
    """``liveroom_comment_delay_seconds``: how old a room frame's oldest chat event (a comment
    or a system message, among the frame's first ``localroom.STAMPS_LOOKED_AT`` events) was when
    the frame went out: from the accepting node's wall clock at the accept (the event's ``ts``)
    to the end of the room's send loop on this node. A room's frames are looked at at most every
    ``localroom.STAMP_EVERY_S`` (reading a stamp every tick would cost a busy room's comment
    path about 2%): each frame looked at counts once per viewer the room's shared frame was
    written to, so a room of 5,000 viewers weighs 5,000 times a room of one; the frames of
    viewers over their buffer bound and of viewers still catching up are not counted. It is the
    server's part of a comment's trip up to the send call: the engine's append and pub/sub, the
    wait for the tick, the flushes before the room's and its send loop; not what a short send
    leaves in the process's buffer, nor the network, nor the client.

    Counted as plain integers by ``add`` (a flush of a room with a chat event in it), read at
    each scrape, like ``_CommandCounts``. Across machines the two wall clocks differ by their
    skew; an age below zero counts as zero."""

    #: upper bounds of the buckets, seconds: finer about the tick (50 ms by default)
    BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 1.0, 2.5, 5.0)

    def __init__(self) -> None:
        self.counts = [0] * (len(self.BOUNDS) + 1)  # the last: above every bound
        self.total = 0.0  # the delays' sum, each times its frames

    def add(self, delay: float, frames: int) -> None:
        self.counts[bisect.bisect_left(self.BOUNDS, delay)] += frames
        self.total += delay * frames

    def collect(self) -> Iterator[HistogramMetricFamily]:
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*map(str, self.BOUNDS), "+Inf"), self.counts, strict=True):
            running += count
            buckets.append((bound, running))
        family = self._family()
        family.add_metric([], buckets, self.total)
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield self._family()

    @staticmethod
    def _family() -> HistogramMetricFamily:
        return HistogramMetricFamily(
            "liveroom_comment_delay_seconds",
            "Age of each room frame's oldest comment when the frame went out (accept to the end "
            "of the room's send loop), counted per frame written; a room's frames looked at every "
            "0.25 s at most",
        )


COMMENT_DELAYS = _CommentDelays()
REGISTRY.register(COMMENT_DELAYS)
COMMAND_ERRORS = Counter("liveroom_command_errors", "Client commands refused", ["code"])
REFUSED_ADMISSIONS = Counter(
    "liveroom_admissions_refused",
    "New connections refused with 1013 (over LIVEROOM_ADMIT_RATE), told to retry later",
)
RESUMES_WAITING = Gauge(
    "liveroom_resumes_waiting", "Resumes and catch-ups waiting for a turn to replay history"
)
CLOSES = Counter("liveroom_closes", "Connections closed by the server", ["code"])
BAG_DRAWS = Counter(
    "liveroom_bag_draw_attempts",
    "Lucky-bag draw attempts by this process: what fired them and what the claim answered",
    ["trigger", "outcome"],
)
ENGINE_UP = Gauge(
    "liveroom_engine_up", "1 while the engine's store answers (the node asks every 2 s)"
)
ENGINE_RECOVERIES = Counter(
    "liveroom_engine_recoveries",
    "Times the engine lost room subscriptions (Redis down, failover) and got them all back",
)
RESYNCS = Counter(
    "liveroom_room_resyncs", "Rooms whose gap was too old to fill from history; viewers resynced"
)

# the business-event feed (liveroom.features.events, docs/events.md)
FEED_DELIVERED = Counter(
    "liveroom_feed_delivered", "Business events a webhook receiver acknowledged (2xx)"
)
FEED_ATTEMPTS = Counter("liveroom_feed_attempts", "Webhook requests sent")
FEED_FAILURES = Counter(
    "liveroom_feed_failures", "Webhook requests that failed, by reason", ["reason"]
)
FEED_DEAD = Counter("liveroom_feed_dead_lettered", "Business events moved to the dead letter")
FEED_DEAD_NOW = Gauge("liveroom_feed_dead_letters", "Events waiting in the dead letter now")
FEED_LAG = Histogram(
    "liveroom_feed_lag_seconds",
    "From a business event's append to its acknowledged delivery",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
FEED_SKIPPED = Counter(
    "liveroom_feed_skipped",
    "Business events trimmed from an outbox (age or count bound) before a consumer group read "
    "or acknowledged them",
)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
