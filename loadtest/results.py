"""Merge what the client processes counted into one summary, and judge it.

The summary is a plain dict with stable keys (``--json`` writes it as is); ``verdict`` lists the
correctness failures that make the run exit non-zero. Speed is reported, never judged here.
"""

from __future__ import annotations

import json
from typing import Any

from hdrh.histogram import HdrHistogram

from loadtest.viewer import LATENCY_UNIT_US

MAX_US = 120_000_000
COUNTERS = (
    "delivered",
    "duplicated",
    "gaps",
    "skipped",
    "resets",
    "frames",
    "bad_frames",
    "snapshots",
    "expected",
    "viewers",
    "live",
    "unanswered",
)
DICTS = (
    "connect_errors",
    "closes",
    "latency",
    "join_latency",
    "reply_latency",
    "sent",
    "answers",
    "private",
)


def emit(result: dict[str, Any], path: str | None) -> None:
    """A bench's result as one JSON line on stdout, and in the file ``path`` when one is given
    (``--json``)."""
    print(json.dumps(result))
    if path:
        with open(path, "w") as out:
            json.dump(result, out)


def _add(into: dict[Any, int], counts: dict[Any, int]) -> None:
    for key, value in counts.items():
        into[key] = into.get(key, 0) + value


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the per-process reports of ``worker.op_report``."""
    out: dict[str, Any] = {name: 0 for name in COUNTERS}
    out.update({name: {} for name in DICTS})
    out["series"] = {}
    out["max_offset"] = 0
    out["bucket_s"] = 1.0
    out["extra"] = []
    for report in reports:
        for name in COUNTERS:
            out[name] += report.get(name, 0)
        for name in DICTS:
            _add(out[name], report.get(name, {}))
        for bucket, counts in report.get("series", {}).items():
            _add(out["series"].setdefault(bucket, {}), counts)
        out["max_offset"] = max(out["max_offset"], report.get("max_offset", 0))
        out["bucket_s"] = report.get("bucket_s", 1.0)
        out["extra"].append(report.get("extra", {}))
    return out


def histogram(counts: dict[int, int]) -> HdrHistogram:
    """An HdrHistogram in microseconds from 0.1 ms latency counts."""
    h = HdrHistogram(1, MAX_US, 3)
    for key, count in counts.items():
        value = min(max(key, 0) * LATENCY_UNIT_US + LATENCY_UNIT_US // 2, MAX_US)
        h.record_value(value, count)
    return h


def percentiles(h: HdrHistogram) -> dict[str, float]:
    """p50, p90, p99, p99.9 and max in milliseconds, and the sample count."""
    if h.get_total_count() == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0, "count": 0}
    return {
        "p50": h.get_value_at_percentile(50) / 1000,
        "p90": h.get_value_at_percentile(90) / 1000,
        "p99": h.get_value_at_percentile(99) / 1000,
        "p999": h.get_value_at_percentile(99.9) / 1000,
        "max": h.get_max_value() / 1000,
        "count": h.get_total_count(),
    }


def series(merged: dict[str, Any]) -> list[list[float]]:
    """Latency over time: ``[seconds, p50, p99, max, count]`` per bucket."""
    rows = []
    for bucket in sorted(merged["series"]):
        p = percentiles(histogram(merged["series"][bucket]))
        rows.append([bucket * merged["bucket_s"], p["p50"], p["p99"], p["max"], p["count"]])
    return rows


def buckets(counts: dict[int, int], count: int = 40) -> list[list[float]]:
    """A log-spaced histogram for the report, from 0.1 ms latency counts: ``[upper_ms, n]``."""
    if not counts:
        return []
    low = max(min(counts), 1)
    high = max(max(counts), low * 2)
    ratio = (high / low) ** (1 / count)
    edges = [low * ratio ** (i + 1) for i in range(count)]
    rows = [[edge * LATENCY_UNIT_US / 1000, 0] for edge in edges]
    for key, n in counts.items():
        index = 0
        while index < count - 1 and key > edges[index]:
            index += 1
        rows[index][1] += n
    return rows


def summarize(
    scenario: str,
    merged: dict[str, Any],
    *,
    window_s: float,
    cpu_s: float | None,
    rss: int | None,
    rss_idle: int | None,
    rss_base: int | None,
    shed: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary with the stable keys of ``--json``."""
    lat = histogram(merged["latency"])
    frames = merged["frames"]
    viewers = merged["viewers"]
    lost = max(merged["expected"] - merged["delivered"] - merged["skipped"], 0)
    errors = sum(merged["connect_errors"].values())
    conn_kb = None
    if rss_idle is not None and rss_base is not None and viewers:
        conn_kb = round((rss_idle - rss_base) / 1024 / viewers, 2)
    sent = sum(merged["sent"].values())
    out: dict[str, Any] = {
        "scenario": scenario,
        "viewers": viewers,
        "sent": sent,
        "expected": merged["expected"],
        "delivered": merged["delivered"],
        "lost": lost,
        "duplicated": merged["duplicated"],
        "skipped": merged["skipped"],
        "shed": shed,
        "latency_ms": percentiles(lat),
        "frames": frames,
        "frames_per_s": round(frames / window_s, 1) if window_s > 0 else 0.0,
        "window_s": round(window_s, 3),
        "server_cpu_s": round(cpu_s, 3) if cpu_s is not None else None,
        "server_cpu_us_per_frame": (
            round(cpu_s / frames * 1e6, 3) if cpu_s is not None and frames else None
        ),
        "server_rss_mb": round(rss / 2**20, 1) if rss is not None else None,
        "kb_per_conn": conn_kb,
        "errors": errors,
        "error_detail": merged["connect_errors"],
        "closes": merged["closes"],
        "snapshots": merged["snapshots"],
        "unanswered": merged["unanswered"],
        "answers": merged["answers"],
        "commands": merged["sent"],
        "reply_latency_ms": percentiles(histogram(merged["reply_latency"])),
        "join_latency_ms": percentiles(histogram(merged["join_latency"])),
        "series": series(merged),
        "histogram": buckets(merged["latency"]),
    }
    out.update(extra or {})
    return out


def verdict(summary: dict[str, Any]) -> list[str]:
    """Correctness failures; empty when the run is correct."""
    failures = []
    if summary.get("lost"):
        failures.append(f"{summary['lost']} room events lost beyond what was shed or skipped")
    if summary.get("duplicated"):
        failures.append(f"{summary['duplicated']} room events delivered twice")
    if summary.get("errors"):
        failures.append(f"{summary['errors']} connection errors: {summary.get('error_detail')}")
    if summary.get("unanswered"):
        failures.append(f"{summary['unanswered']} commands never answered")
    need = summary.get("snapshots_expected")
    if need is not None and summary.get("snapshots", 0) < need:
        failures.append(f"only {summary['snapshots']} of {need} viewers got their snapshot")
    for key in ("oversold", "undersold", "limit_violations"):
        if summary.get(key):
            failures.append(f"flash sale: {key.replace('_', ' ')} = {summary[key]}")
    if summary.get("verified") is False:
        failures.append(f"lucky bag: {summary.get('verify_detail', 'verification failed')}")
    if summary.get("exactly_once") is False:
        failures.append("lucky bag: the draw did not happen exactly once")
    failures.extend(summary.get("failures_extra", []))
    return failures
