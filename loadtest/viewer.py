"""What one client process counts, and the simulated viewer that feeds it.

``SimViewer.on_message`` runs once per frame a viewer receives; it is the generator's hot path.
It parses the frame (one ``orjson.loads``), checks each room event's offset against the last one
of the same stream epoch (a repeat is a duplicate, a jump is a gap; a reset snapshot or a
``resync`` moves the viewer to its epoch and offset), and files the publish→receive latency of
events that carry the server's ``ts``. Latencies go into a plain dict keyed by 0.1 ms steps —
a dict increment costs a tenth of an HdrHistogram ``record_value`` — and become an HdrHistogram
when reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from loadtest.wsclient import WsClient

#: latency keys are in units of 100 µs
LATENCY_UNIT_US = 100
#: event types that carry an ``offset`` but are not room events
NOT_ROOM = frozenset({"snapshot", "reply", "resumed", "skipped", "resync", "welcome", "error"})


def _bump(counts: dict[int, int], key: int) -> None:
    counts[key] = counts.get(key, 0) + 1


@dataclass(slots=True)
class Tally:
    """Everything one client process counts. Merged across processes by ``loadtest.results``."""

    delivered: int = 0  # room events received, each offset once
    duplicated: int = 0
    gaps: int = 0  # offsets jumped over
    skipped: int = 0  # offsets the server declared skipped (slow consumer)
    resets: int = 0  # resumes answered with a fresh snapshot, and resyncs: the gap is declared
    frames: int = 0  # frames holding at least one room event
    bad_frames: int = 0
    snapshots: int = 0
    connect_errors: dict[str, int] = field(default_factory=dict)
    closes: dict[str, int] = field(default_factory=dict)
    latency: dict[int, int] = field(default_factory=dict)  # publish → receive
    series: dict[int, dict[int, int]] = field(default_factory=dict)  # bucket → latency counts
    join_latency: dict[int, int] = field(default_factory=dict)  # connect → snapshot
    reply_latency: dict[int, int] = field(default_factory=dict)  # command → reply
    sent: dict[str, int] = field(default_factory=dict)  # commands sent, by type
    answers: dict[str, int] = field(default_factory=dict)  # "type:outcome" → count
    max_offset: int = 0  # newest offset any reply named
    private: dict[str, int] = field(default_factory=dict)  # events without an offset, by type
    t0: float = 0.0
    bucket_s: float = 1.0
    pending: dict[str, tuple[float, str]] = field(default_factory=dict)  # request id → sent
    on_reply: Callable[[dict[str, Any], str], None] | None = None
    watch: frozenset[str] = frozenset()  # event types kept whole in ``seen``
    seen: list[dict[str, Any]] = field(default_factory=list)

    def error(self, kind: str) -> None:
        self.connect_errors[kind] = self.connect_errors.get(kind, 0) + 1

    def summary(self) -> dict[str, Any]:
        """A picklable copy of the counts (callbacks and pending requests left out)."""
        out = {}
        for name in self.__slots__:
            if name in ("pending", "on_reply", "watch", "seen"):
                continue
            out[name] = getattr(self, name)
        out["unanswered"] = len(self.pending)
        return out


class SimViewer:
    """One simulated viewer (or commenter, buyer) in one room."""

    __slots__ = (
        "tally",
        "user",
        "ws",
        "last",
        "epoch",
        "start",
        "began",
        "live",
        "reconnecting",
        "inflight",
    )

    def __init__(self, tally: Tally, user: str) -> None:
        self.tally = tally
        self.user = user
        self.ws: WsClient | None = None
        self.last = -1  # newest room offset held; -1 before the snapshot
        self.epoch = ""  # the stream epoch of ``last``; sent back with it on a resume
        self.start = -1  # offset of the first snapshot: expected events are those after it
        self.began = 0.0
        self.live = False
        self.reconnecting = False
        self.inflight: set[str] = set()  # request ids sent on the current connection

    def on_message(self, payload: bytes) -> None:
        now = time.time()
        t = self.tally
        try:
            events = orjson.loads(payload)
        except orjson.JSONDecodeError:
            t.bad_frames += 1
            return
        room_frame = False
        for e in events:
            kind = e.get("type")
            offset = e.get("offset")
            if offset is not None and kind not in NOT_ROOM:
                room_frame = True
                last = self.last
                if offset <= last:
                    t.duplicated += 1
                    continue
                if offset > last + 1:
                    t.gaps += offset - last - 1
                self.last = offset
                t.delivered += 1
                if kind in t.watch:
                    t.seen.append({**e, "_user": self.user})
                ts = e.get("ts")
                if ts is not None:
                    key = int((now - ts) * 10_000)
                    _bump(t.latency, key)
                    if t.t0:
                        bucket = int((now - t.t0) / t.bucket_s)
                        series = t.series.get(bucket)
                        if series is None:
                            series = t.series[bucket] = {}
                        _bump(series, key)
            elif kind == "reply":
                self._reply(e, now)
            elif kind == "snapshot":
                self._snapshot(e, now)
            elif kind == "skipped":
                t.skipped += int(e.get("count", 0))
            elif kind == "resync":
                # this connection goes on after ``offset`` of the resync's epoch
                t.resets += 1
                self.last = int(offset or 0)
                self.epoch = str(e.get("epoch", ""))
            elif kind == "resumed":
                if e.get("epoch") != self.epoch:
                    t.bad_frames += 1  # a resume is served only from the epoch asked for
                self.live = True
            else:
                t.private[kind] = t.private.get(kind, 0) + 1
                if kind in t.watch:
                    t.seen.append({**e, "_user": self.user})
        if room_frame:
            t.frames += 1

    def _snapshot(self, e: dict[str, Any], now: float) -> None:
        t = self.tally
        offset = int(e.get("offset", 0))
        epoch = str(e.get("epoch", ""))
        if self.start < 0:
            self.start = offset
            t.snapshots += 1
            _bump(t.join_latency, int((now - self.began) * 10_000))
        elif e.get("reset"):
            # resumed too late for history, or the stream started afresh (a new epoch): the
            # server says so and the gap is declared
            t.resets += 1
            if epoch == self.epoch and offset > self.last:
                t.skipped += offset - self.last
        if epoch != self.epoch:
            self.last = offset  # offsets of another epoch: count from this one on
        else:
            self.last = max(self.last, offset)
        self.epoch = epoch
        self.live = True

    def _reply(self, e: dict[str, Any], now: float) -> None:
        t = self.tally
        rid = str(e.get("id"))
        self.inflight.discard(rid)
        sent = t.pending.pop(rid, None)
        if sent is None:
            return
        began, kind = sent
        _bump(t.reply_latency, int((now - began) * 10_000))
        if e.get("ok"):
            outcome = "shed" if e.get("shed") else "ok"
            offset = e.get("offset")
            if isinstance(offset, int) and offset > t.max_offset:
                t.max_offset = offset
        else:
            outcome = str((e.get("error") or {}).get("code", "error"))
        key = f"{kind}:{outcome}"
        t.answers[key] = t.answers.get(key, 0) + 1
        if t.on_reply is not None:
            t.on_reply(e, kind)

    def command(self, rid: str, kind: str, body: bytes) -> bool:
        """Send an encoded command whose reply is awaited under ``rid``."""
        ws = self.ws
        if ws is None or not ws.send_text(body):
            return False
        t = self.tally
        t.pending[rid] = (time.time(), kind)
        self.inflight.add(rid)
        t.sent[kind] = t.sent.get(kind, 0) + 1
        return True

    def abandon(self) -> int:
        """The harness closes this connection itself: its unanswered commands cannot be
        answered any more, so they leave ``pending`` (counted as abandoned, not unanswered)."""
        t = self.tally
        for rid in self.inflight:
            t.pending.pop(rid, None)
        n = len(self.inflight)
        self.inflight.clear()
        if n:
            t.private["abandoned"] = t.private.get("abandoned", 0) + n
        return n

    def on_close(self, code: int | None) -> None:
        t = self.tally
        if self.start < 0 and not self.reconnecting:
            t.error(f"closed before snapshot ({code})")
        if self.live and not self.reconnecting:
            key = str(code)
            t.closes[key] = t.closes.get(key, 0) + 1
        self.live = False
