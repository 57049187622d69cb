"""The human report printed at the end of a run (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

#: (key, label, format) rows shown when the summary has the key
ROWS = [
    ("viewers", "viewers", "{:,}"),
    ("sent", "commands sent", "{:,}"),
    ("expected", "expected", "{:,}"),
    ("delivered", "delivered", "{:,}"),
    ("lost", "lost (beyond shed/skipped)", "{:,}"),
    ("duplicated", "duplicated", "{:,}"),
    ("shed", "shed by the server", "{:,}"),
    ("skipped", "skipped (slow consumer)", "{:,}"),
    ("frames_per_s", "frames/s", "{:,.0f}"),
    ("server_cpu_us_per_frame", "server CPU µs/frame", "{:.2f}"),
    ("server_system_us_per_frame", "— of it in the kernel", "{:.2f}"),
    ("server_cpu_s", "server CPU s", "{:.2f}"),
    ("server_rss_mb", "server RSS MB", "{:.1f}"),
    ("kb_per_conn", "server kB per connection", "{:.2f}"),
    ("rss_growth_mb", "RSS growth MB (soak)", "{:.1f}"),
    ("join_s", "all joined in s", "{:.2f}"),
    ("joins_per_s", "joins/s", "{:,.0f}"),
    ("reconnects", "reconnects (resume)", "{:,}"),
    ("errors", "connection errors", "{:,}"),
    ("unanswered", "unanswered commands", "{:,}"),
    ("stock", "stock", "{:,}"),
    ("reserved", "reserved", "{:,}"),
    ("oversold", "oversold", "{:,}"),
    ("undersold", "undersold", "{:,}"),
    ("limit_violations", "limit violations", "{:,}"),
    ("buys_per_s", "buys/s", "{:,.0f}"),
    ("places_per_s", "group joins/s", "{:,.0f}"),
    ("groups_formed", "groups formed", "{:,}"),
    ("groups_failed", "groups failed", "{:,}"),
    ("participants", "bag participants", "{:,}"),
    ("winners", "winners", "{:,}"),
    ("exactly_once", "drawn exactly once", "{}"),
    ("verified", "winners verified", "{}"),
]


LATENCY = "p50 {p50:.1f}  p90 {p90:.1f}  p99 {p99:.1f}  p99.9 {p999:.1f}  max {max:.1f}"


def show(summary: dict[str, Any], console: Console) -> None:
    where = "viewers in their own network namespace" if summary.get("netns") else "loopback"
    table = Table(title=f"loadtest {summary['scenario']} ({where})", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, label, fmt in ROWS:
        value = summary.get(key)
        if value is None:
            continue
        table.add_row(label, fmt.format(value))
    for name, key in (("latency", "latency_ms"), ("reply latency", "reply_latency_ms")):
        lat = summary.get(key) or {}
        if lat.get("count"):
            table.add_row(
                f"{name} ms (n={lat['count']:,})",
                LATENCY.format(**lat),
            )
    if summary.get("answers"):
        table.add_row(
            "answers", ", ".join(f"{k} {v:,}" for k, v in sorted(summary["answers"].items()))
        )
    feed = summary.get("feed")
    if feed:
        table.add_row(
            "feed (webhooks)",
            f"{feed['events']:,} events, {feed['events_per_s'] or 0:,.0f}/s, "
            f"last {feed['last_after_start_s']} s after the first buy, "
            f"{feed['duplicates']:,} duplicates",
        )
    if summary.get("closes"):
        table.add_row("server closes", ", ".join(f"{k}: {v}" for k, v in summary["closes"].items()))
    console.print(table)
    if summary.get("failures"):
        for failure in summary["failures"]:
            console.print(f"[bold red]FAIL[/bold red] {failure}")
    else:
        console.print("[bold green]OK[/bold green] correctness checks passed")
