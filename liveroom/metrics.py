"""Prometheus metrics, defined once. Served at ``/metrics``."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

CONNECTIONS = Gauge("liveroom_connections", "Open WebSocket connections on this process")
VIEWERS = Gauge("liveroom_viewers", "Viewers in local rooms on this process")
ROOMS = Gauge("liveroom_rooms", "Local rooms on this process")
FRAMES_OUT = Counter("liveroom_frames_out", "Room frames written to viewers")
EVENTS_OUT = Counter("liveroom_events_out", "Events delivered to viewers, summed over frames")
TICK_OVERRUNS = Counter(
    "liveroom_tick_overruns",
    "Ticks skipped because the flushes before them ran past their due time",
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
SHORT_SENDS = Counter(
    "liveroom_short_sends",
    "Direct socket sends the kernel did not take whole; the rest waited in uvloop's buffer",
)
COMMANDS = Counter("liveroom_commands", "Client commands handled", ["type"])
COMMAND_ERRORS = Counter("liveroom_command_errors", "Client commands refused", ["code"])
CLOSES = Counter("liveroom_closes", "Connections closed by the server", ["code"])
BAG_DRAWS = Counter(
    "liveroom_bag_draw_attempts",
    "Lucky-bag draw attempts by this process: what fired them and what the claim answered",
    ["trigger", "outcome"],
)
ENGINE_UP = Gauge("liveroom_engine_up", "1 while the engine's store answers")
ENGINE_RECOVERIES = Counter(
    "liveroom_engine_recoveries",
    "Times the engine lost room subscriptions (Redis down, failover) and got them all back",
)
RESYNCS = Counter(
    "liveroom_room_resyncs", "Rooms whose gap was too old to fill from history; viewers resynced"
)


def command_counter(kind: str) -> Any:
    """``COMMANDS`` for one command type, looked up once per type rather than per command."""
    child = _COMMAND_CHILDREN.get(kind)
    if child is None:
        child = _COMMAND_CHILDREN[kind] = COMMANDS.labels(kind)
    return child


_COMMAND_CHILDREN: dict[str, Any] = {}


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
