"""Settings: one frozen dataclass, filled from ``LIVEROOM_*`` environment variables and flags."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

ENV_PREFIX = "LIVEROOM_"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a node needs to run. Each field ``name`` reads ``LIVEROOM_NAME``."""

    host: str = "127.0.0.1"
    port: int = 8000
    engine: str = "memory"  # memory | redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "lr"
    redis_cluster: bool = False  # redis_url then lists seed nodes: redis://h1:7000,redis://h2:7001
    workers: int = 1
    # the listening socket's backlog: connections the kernel holds ready until the process
    # accepts them. A reconnect storm brings a node's viewers back at once; a connection that
    # finds the queue full is dropped, and TCP retries it only after 1, 3, 7, 15 s ... Linux
    # caps it at net.core.somaxconn (4096 by default since 5.4)
    backlog: int = 16384
    # fan-out
    tick_ms: int = 50
    # on Redis, read room events from pub/sub once a tick, right before the flush, instead of
    # as each one arrives (one wake-up less per event on every node); the events that go out at
    # once ring a bell that has them read at once (docs/architecture.md, "Room events are read
    # at the tick")
    events_at_tick: bool = True
    outgoing_soft_kb: int = 512
    outgoing_hard_kb: int = 4096
    slow_grace_s: float = 5.0
    max_frame_bytes: int = 16384
    # the fan-out's send loop: "auto" (C where it was built at install, else Python), "c"
    # (refuse to start without it), "python"; see docs/protocol.md, "Transports"
    send_loop: str = "auto"
    # history and snapshot
    history_len: int = 2000
    history_age_s: int = 3600
    snapshot_comments: int = 30
    # comments
    comment_max_len: int = 200
    user_comment_limit: int = 10
    user_comment_window_s: int = 10
    room_comment_cap: int = 40
    dedupe_window_s: float = 5.0
    # counts
    pulse_s: float = 1.0
    node_ttl_s: float = 6.0
    # connections
    command_rate: float = 30.0
    command_burst: int = 60
    # a node's commands read within this many ms of the first are run together at its end:
    # cheaper each (one pipeline on a standalone Redis, one wake-up for the replies), each
    # reply later by up to this much; 0 runs each where it is read (``connection/gather.py``)
    command_gather_ms: float = 10.0
    # while a window is open, the node's thread sleeps to its end (or to the next tick), so the
    # frames that come meanwhile are read in one wake-up: on the memory engine only, where no
    # reply from the engine can be on its way (``connection/gather.py``, the read hold)
    command_gather_hold: bool = True
    ping_interval_s: float = 20.0
    drain_s: float = 5.0
    max_conns_per_ip: int = 200  # per process; 0 for no cap
    # new WebSocket connections admitted per second per process (a token bucket holding
    # ``admit_burst``); past it, close 1013 with a jittered ``retry_after``. 0: no limit
    admit_rate: float = 1000.0
    admit_burst: int = 1000
    # and from one client address (``limits.AddressRate``), checked first, so that one address
    # cannot spend every other viewer's joins; 0: no limit (set it, and max_conns_per_ip, to 0
    # where every client reaches the node from one address, a proxy that forwards none)
    admit_address_rate: float = 20.0
    admit_address_burst: int = 200
    # resumes reading the room's history at once, per process; the others wait their turn
    resume_reads: int = 64
    # new connections joining at once, per process (token, kick, snapshot or replay: a join's
    # Redis calls); the others wait their turn, instead of all waiting for Redis connections at
    # once and failing with 1012 when the pool has none for them in time
    joins_at_once: int = 64
    # garbage collector of ``liveroom serve`` workers (not of an app that embeds create_app):
    # "gen0,gen1,gen2" thresholds, or "" for Python's own (700,10,10); see docs/operations.md
    gc_thresholds: str = "50000,20,10"
    trusted_proxies: str = ""  # addresses/CIDRs whose X-Forwarded-For is believed
    # auth
    secret: str = ""
    api_key: str = ""
    allow_anonymous: bool = True
    allowed_origins: str = "*"
    # lucky bags (read by liveroom.features.luckybag.settings)
    luckybag_prize_cap_fen: int = 5_000_000
    luckybag_daily_wins: int = 1
    # flash sales
    sale_payment_s: int = 900
    sale_stock_throttle_ms: int = 200
    sweep_interval_s: float = 1.0
    # the business-event feed (liveroom.features.events, docs/events.md)
    feed_endpoints: str = ""  # JSON list: [{"url", "secret", "rooms": [...], "types": [...]}]
    feed_outbox_len: int = 100_000  # events kept per room's outbox
    feed_outbox_age_s: int = 86_400  # and none older (0: no age bound)
    feed_attempts: int = 8  # failed deliveries of one event before it goes to dead letter
    feed_timeout_s: float = 5.0  # one webhook request, connect to last byte
    feed_concurrency: int = 16  # webhook requests in flight per process
    feed_batch: int = 100  # most events in one request (only when the receiver lags)
    feed_backoff_s: float = 0.5  # first retry after about this long, doubling each time
    feed_backoff_max_s: float = 60.0
    feed_claim_s: float = 10.0  # a silent node's deliveries are taken over after this
    feed_poll_s: float = 0.1  # how often a deliverer looks for new events
    feed_trim_s: float = 5.0  # how often outboxes are trimmed and laggards reported
    feed_allow_loopback: bool = True  # webhook URLs may name 127.0.0.0/8 and ::1
    # host analytics (``liveroom.features.analytics``, docs/analytics.md): off counts nothing
    analytics: bool = True
    analytics_keep_days: float = 30.0  # how long a room's report is kept after its last write
    analytics_k: int = 10  # a profile value held by fewer viewers is folded into "other"
    # demo
    demo: bool = True
    demo_room: str = "demo"
    demo_dir: str = ""  # the demo pages' directory; empty: the ones shipped in the package
    log_level: str = "info"
    log_json: bool = True
    node_id: str = field(default_factory=lambda: secrets.token_hex(4))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``LIVEROOM_*`` variables, then apply ``overrides`` (flags win over env)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _coerce(f.type, raw, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.engine not in ("memory", "redis"):
            raise ValueError(f"engine must be memory or redis, not {self.engine!r}")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.workers > 1 and self.engine == "memory":
            raise ValueError(
                "several worker processes need a shared engine: use --engine redis "
                "(the memory engine lives inside one process)"
            )
        if self.redis_cluster and self.engine != "redis":
            raise ValueError("redis_cluster needs --engine redis")
        if self.send_loop not in ("auto", "c", "python"):
            raise ValueError(f"send_loop must be auto, c or python, not {self.send_loop!r}")
        if self.send_loop == "c":
            try:
                import liveroom._sendall  # noqa: F401
            except ImportError as exc:
                raise ValueError(
                    "send_loop is c but liveroom._sendall was not built at install "
                    "(a C compiler and Python's headers are needed)"
                ) from exc
        if not 0 <= self.command_gather_ms <= 1000:
            raise ValueError("command_gather_ms must be from 0 to 1000")
        if self.tick_ms < 1:
            raise ValueError("tick_ms must be at least 1")
        if self.outgoing_hard_kb < self.outgoing_soft_kb:
            raise ValueError("outgoing_hard_kb must be at least outgoing_soft_kb")
        if self.analytics_keep_days <= 0:
            raise ValueError("analytics_keep_days must be more than 0")
        if self.analytics_k < 1:
            raise ValueError("analytics_k must be at least 1")
        if self.backlog < 1:
            raise ValueError("backlog must be at least 1")
        if self.max_conns_per_ip < 0:
            raise ValueError("max_conns_per_ip must be 0 (no cap) or more")
        if self.feed_attempts < 1 or self.feed_batch < 1 or self.feed_concurrency < 1:
            raise ValueError("feed_attempts, feed_batch and feed_concurrency must be at least 1")
        if self.feed_outbox_len < 1:
            raise ValueError("feed_outbox_len must be at least 1")
        if self.feed_claim_s < 2 * self.feed_timeout_s:
            # a lane's holder renews its lease between requests: one request must never
            # outlast the lease, or another node would take the lane while it still sends
            raise ValueError("feed_claim_s must be at least twice feed_timeout_s")
        if self.admit_rate < 0 or (self.admit_rate > 0 and self.admit_burst < 1):
            raise ValueError("admit_rate must be 0 (no limit) or more, with admit_burst >= 1")
        if self.admit_address_rate < 0 or (
            self.admit_address_rate > 0 and self.admit_address_burst < 1
        ):
            raise ValueError(
                "admit_address_rate must be 0 (no limit) or more, with admit_address_burst >= 1"
            )
        if self.resume_reads < 1:
            raise ValueError("resume_reads must be at least 1")
        if self.joins_at_once < 1:
            raise ValueError("joins_at_once must be at least 1")
        _ = self.gc_levels
        _ = self.proxies  # a malformed trusted_proxies entry fails at start, not at first request

    def to_env(self) -> dict[str, str]:
        """The ``LIVEROOM_*`` variables that rebuild these settings in a worker process."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "node_id":
                continue
            out[ENV_PREFIX + f.name.upper()] = (
                ("1" if value else "0") if isinstance(value, bool) else str(value)
            )
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def gc_levels(self) -> tuple[int, int, int] | None:
        """``gc_thresholds`` as three ints, or None to leave the collector as Python sets it."""
        if not self.gc_thresholds.strip():
            return None
        try:
            levels = tuple(int(part) for part in self.gc_thresholds.split(","))
        except ValueError:
            levels = ()
        if len(levels) != 3 or min(levels) < 1:
            raise ValueError(
                f"gc_thresholds must be three positive integers like 50000,20,10, "
                f"not {self.gc_thresholds!r}"
            )
        return levels

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.allowed_origins.split(",") if o.strip())

    @property
    def proxies(self) -> tuple[IPNetwork, ...]:
        """``trusted_proxies`` parsed: the peers whose ``X-Forwarded-For`` is believed."""
        try:
            return tuple(
                ipaddress.ip_network(p.strip(), strict=False)
                for p in self.trusted_proxies.split(",")
                if p.strip()
            )
        except ValueError as exc:
            raise ValueError(f"trusted_proxies: {exc}") from None


def _coerce(type_name: Any, raw: str, name: str) -> Any:
    kind = type_name if isinstance(type_name, str) else type_name.__name__
    try:
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}: cannot read {raw!r} as {kind}") from exc
    return raw
