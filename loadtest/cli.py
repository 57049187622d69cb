"""``python -m loadtest SCENARIO [options]``.

Exit status: 0 when the run is correct, 1 when a correctness check failed (loss beyond what was
shed, duplicates, missing snapshots, oversell…), 2 when the run could not start (bad options, no
server, a feature the server lacks).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from loadtest import html, report
from loadtest.pool import Pool, WorkerFailed
from loadtest.results import verdict
from loadtest.run import Run, open_target
from loadtest.scenarios import SCENARIOS
from loadtest.server import HttpError, SetupError

DEFAULTS: dict[str, dict[str, Any]] = {
    "fanout": {"viewers": 1000, "rate": 100.0, "duration": 10.0},
    "join": {"viewers": 2000},
    "flashsale": {"viewers": 1000, "buyers": 1000, "stock": 100},
    "groupbuy": {"viewers": 1, "buyers": 3000, "stock": 300},
    "luckybag": {"viewers": 1000},
    "soak": {"viewers": 1000, "rate": 20.0, "duration": 300.0},
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.split("\n")[0])
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    server = p.add_argument_group("server")
    server.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000 (loopback)")
    server.add_argument("--spawn", action="store_true", help="start a server for this run")
    server.add_argument("--engine", choices=["memory", "redis"], default="memory")
    server.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    server.add_argument(
        "--processes",
        "--nodes",
        type=int,
        default=1,
        help="server processes (--spawn); each is a node of its own on the shared Redis",
    )
    server.add_argument("--tick-ms", type=int, default=50, help="fan-out tick (--spawn)")
    server.add_argument("--port", type=int, default=0, help="port for --spawn (default: free)")
    server.add_argument("--secret", help="token secret of the --url server (or LIVEROOM_SECRET)")
    server.add_argument("--api-key", help="API key of the --url server (or LIVEROOM_API_KEY)")
    server.add_argument(
        "--server-pid",
        type=int,
        action="append",
        help="pid of the --url server, for CPU and RSS (repeatable)",
    )
    server.add_argument(
        "--server-setting",
        action="append",
        metavar="NAME=VALUE",
        help="extra LIVEROOM_* setting for --spawn (repeatable)",
    )
    server.add_argument(
        "--server-cpu-quota",
        type=float,
        metavar="CORES",
        help="cap each spawned server process at CORES of CPU (a cgroup each; needs root), so "
        "that the server, not the load generator, is what runs out (scale-out runs)",
    )
    server.add_argument(
        "--quota-from",
        choices=("start", "traffic"),
        default="start",
        help="when --server-cpu-quota begins: at the server's start, or once the run's viewers "
        "have joined, so that a low cap measures the traffic and not a join at that cap",
    )
    server.add_argument(
        "--netns",
        action="store_true",
        help="put the client processes in a network namespace of their own, joined by a veth "
        "pair, so that the viewers' receive path is not charged to the server as on loopback "
        "(--spawn; needs root; see loadtest/netns.py)",
    )
    server.add_argument(
        "--profile",
        metavar="FILE",
        help="run the spawned server under cProfile, stats written to FILE",
    )
    server.add_argument(
        "--feed",
        action="store_true",
        help="turn the business-event feed on (--spawn): every event is sent by webhook to a "
        "local receiver the harness runs, which checks signatures and counts (docs/events.md)",
    )
    server.add_argument(
        "--feed-backlog",
        action="store_true",
        help="with --feed: the receiver refuses (503) until every buy is answered, then takes "
        "the backlog; its events/s is then the feed's delivery throughput",
    )
    load = p.add_argument_group("load")
    load.add_argument("--viewers", type=int, help="viewers in the room")
    load.add_argument("--rate", type=float, help="comments per second (fanout, soak)")
    load.add_argument("--duration", type=float, help="seconds of traffic")
    load.add_argument("--buyers", type=int, help="buyers (flashsale, groupbuy)")
    load.add_argument("--stock", type=int, help="units on sale (flashsale, groupbuy)")
    load.add_argument("--limit", type=int, default=1, help="units per buyer (flashsale)")
    load.add_argument(
        "--buy-rate",
        type=float,
        default=0.0,
        help="buy attempts (flashsale) or group places (groupbuy) per second; 0: all at once",
    )
    load.add_argument("--group-size", type=int, default=3, help="members per group (groupbuy)")
    load.add_argument(
        "--fill-s", type=float, default=1.0, help="seconds a group has to fill (groupbuy)"
    )
    load.add_argument("--winners", type=int, default=10, help="lucky-bag winners")
    load.add_argument(
        "--commenters",
        type=int,
        default=0,
        help="commenting connections per client process (default: from --rate)",
    )
    load.add_argument(
        "--comment-cap",
        type=int,
        help="the room's comment cap per second (server default when omitted)",
    )
    load.add_argument("--like-rate", type=float, default=50.0, help="likes per second (soak)")
    load.add_argument(
        "--churn-rate", type=float, default=2.0, help="reconnects (resume) per second (soak)"
    )
    load.add_argument(
        "--client-procs",
        type=int,
        default=max(1, (os.cpu_count() or 2) - 1),
        help="client processes",
    )
    load.add_argument(
        "--client-nice",
        type=int,
        default=0,
        help=(
            "the client processes' CPU priority (os.nice): above 0 they yield the shared cores"
            " to the server when both want them, as viewers on other machines would (default 0)"
        ),
    )
    load.add_argument(
        "--join-concurrency",
        type=int,
        default=2000,
        help="handshakes in flight at once, over all client processes",
    )
    load.add_argument(
        "--connect-timeout",
        type=float,
        default=60.0,
        help="seconds for the viewers to connect, and for a --url server to be ready",
    )
    load.add_argument(
        "--drain-timeout",
        type=float,
        default=15.0,
        help="seconds to wait for the last events and replies after traffic stops; a drain "
        "whose replies name a later comment is followed by another, at most 3 in all",
    )
    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="FILE", help="write the summary as JSON")
    out.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def options(argv: list[str] | None = None) -> argparse.Namespace:
    opts = build_parser().parse_args(argv)
    for key, value in DEFAULTS[opts.scenario].items():
        if getattr(opts, key) is None:
            setattr(opts, key, value)
    for key in ("viewers", "rate", "duration", "buyers", "stock"):
        if getattr(opts, key) is None:
            setattr(opts, key, 0)
    if opts.viewers < 1:
        raise SetupError("--viewers must be at least 1")
    return opts


async def execute(opts: argparse.Namespace, console: Console) -> dict[str, Any]:
    async with open_target(opts) as target:
        namespace = target.namespace
        config: dict[str, Any] = {
            "host": target.host,
            "netns": namespace.path if namespace else None,
            "nice": opts.client_nice,
            "port": target.port,
            "secret": target.secret,
            "watch": WATCH.get(opts.scenario, []),
        }
        procs = max(1, min(opts.client_procs, opts.viewers))
        async with Pool(procs, config) as pool:
            run = Run(opts.scenario, opts, target, pool, console)
            summary = await SCENARIOS[opts.scenario](run)
    summary.update(
        processes=opts.processes if opts.spawn else None,
        engine=opts.engine if opts.spawn else None,
        tick_ms=opts.tick_ms if opts.spawn else None,
        netns=bool(opts.netns),
        client_procs=procs,
        client_nice=pool.nice,
    )
    if namespace is not None:  # removed by now: what crossed the pair, and how it was set up
        summary.update(netns_sent_bytes=namespace.sent_bytes, netns_napi=namespace.napi_policy)
    return summary


#: event types the client processes keep whole, per scenario (the rest are only counted)
WATCH: dict[str, list[str]] = {
    "luckybag": ["bag_won", "bag_drawn", "bag"],
}


#: descriptors wanted for the server and client processes (they inherit the limit)
WANTED_FDS = 65536


def raise_fd_limit() -> None:
    """Lift the descriptor limit: to WANTED_FDS where allowed (root), else to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in ((max(hard, WANTED_FDS),) * 2, (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
            return
        except (ValueError, OSError):
            continue


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["platform"]:  # many rooms: a driver of its own (``loadtest.platform``)
        from loadtest import platform

        return platform.main(args[1:])
    if args[:1] == ["ingest"]:  # server CPU per accepted comment (``loadtest.ingest``)
        from loadtest import ingest

        return ingest.main(args[1:])
    console = Console(width=None if sys.stdout.isatty() else 110)
    try:
        opts = options(argv)
    except SetupError as exc:
        console.print(f"[red]loadtest: {exc}[/red]")
        return 2
    raise_fd_limit()
    try:
        summary = asyncio.run(execute(opts, console))
    except SetupError as exc:
        console.print(f"[red]loadtest: {exc}[/red]")
        if opts.json:
            Path(opts.json).write_bytes(
                orjson.dumps(
                    {"scenario": opts.scenario, "error": str(exc)}, option=orjson.OPT_INDENT_2
                )
            )
        return 2
    except (HttpError, WorkerFailed, OSError) as exc:
        console.print(f"[red]loadtest: run failed: {exc}[/red]")
        return 2
    failures = verdict(summary)
    summary["ok"] = not failures
    summary["failures"] = failures
    if opts.json:
        Path(opts.json).write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    if opts.html:
        Path(opts.html).write_text(html.render(summary), encoding="utf-8")
    report.show(summary, console)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
