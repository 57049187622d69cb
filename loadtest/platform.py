"""``python -m loadtest platform``: a platform's evening, many rooms of three classes at once.

The mix is set per class as ROOMSxVIEWERS (``--small 2000x5 --medium 20x200 --hot 1x5000``, the
default) with a comment rate per room of each class (``--small-rate`` and so on). The server is
spawned with ``--processes`` workers (on Redis when more than one) and the viewers are spread over
``--client-procs`` client processes: a room of fewer than two viewers per process in one process, a
bigger room's over all of them. Comments are posted by the rooms' own viewers, each a different
user. ``--clients native`` runs the client processes compiled from ``loadtest/viewers.c``
(``loadtest.native``) instead of Python ones: the same checks and the same posting in a fifth of
the user time a frame or less, so that on shared cores the mix's latency measures the server rather
than its load generator. A room of more than ``--posters`` viewers per client process posts from a
process of its own, which holds the first ``--posters`` viewers of each such room and no others (in
the default mix, the hot room's and the medium rooms': 1,050 viewers, posting 60 comments a
second). A poster that shares a process with thousands of viewers posts late whenever their frames
keep it busy, and the hot room's comments that bunch up share a tick's frame: fewer frames for the
same events, and a per-frame figure that moves with the load generator's timing, not the server's.
Each poster is a user the server lets post once a second by default, so ``--posters`` must be at
least a posted-apart room's rate.

It reports, per class: delivered, lost (offsets a viewer never got, gaps and the end alike) and
duplicated, and the publish → receive latency (p50, p99, max); per server process: CPU µs per
delivered frame, RSS and kB per connection; the pulse cycle (``liveroom_pulse_seconds`` in the
nodes' ``/metrics``; the workers share one port, so each sample comes from whichever answers);
and on Redis, the commands Redis ran per second (``INFO commandstats``). Exit status 1 when any
class lost or duplicated an event, 2 when the run could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from liveroom.config import Settings
from loadtest import cpusamples, results
from loadtest.cli import raise_fd_limit
from loadtest.native import BuildError, NativeFailed, NativePool
from loadtest.netns import ViewerNamespace
from loadtest.pool import Clients, Pool, WorkerFailed
from loadtest.server import (
    HttpError,
    SetupError,
    SpawnedServer,
    Target,
    metric_sum,
    server_settings,
)

CLASSES = ("small", "medium", "hot")


def mix(text: str) -> tuple[int, int]:
    """``ROOMSxVIEWERS`` -> (rooms, viewers per room); ``0x0`` leaves the class out."""
    rooms, _, viewers = text.lower().partition("x")
    try:
        return int(rooms), int(viewers)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not ROOMSxVIEWERS") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest platform", description=__doc__)
    p.add_argument("--small", type=mix, default=(2000, 5), metavar="ROOMSxVIEWERS")
    p.add_argument("--medium", type=mix, default=(20, 200), metavar="ROOMSxVIEWERS")
    p.add_argument("--hot", type=mix, default=(1, 5000), metavar="ROOMSxVIEWERS")
    p.add_argument("--small-rate", type=float, default=0.2, help="comments/s per small room")
    p.add_argument("--medium-rate", type=float, default=2.0, help="comments/s per medium room")
    p.add_argument("--hot-rate", type=float, default=20.0, help="comments/s per hot room")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--processes", type=int, default=2, help="server processes")
    p.add_argument("--engine", choices=["memory", "redis"], default="redis")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--tick-ms", type=int, default=50)
    p.add_argument("--server-setting", action="append", metavar="NAME=VALUE")
    p.add_argument("--client-procs", type=int, default=2)
    p.add_argument(
        "--clients",
        choices=["python", "native"],
        default="python",
        help="the viewers' client processes: Python on uvloop (loadtest.worker), or compiled "
        "from loadtest/viewers.c with the machine's C compiler (loadtest.native), which spend a "
        "small part of the Python clients' user time a frame (the kernel's receive remains)",
    )
    p.add_argument(
        "--posters",
        type=int,
        default=50,
        help="of each room with more viewers than this per client process, the first this many "
        "are held, and post, in a client process of their own (0: every room posts from the "
        "first client process holding its viewers)",
    )
    p.add_argument(
        "--client-nice",
        type=int,
        default=0,
        help="the client processes' CPU priority (os.nice; see python -m loadtest --help)",
    )
    p.add_argument(
        "--netns",
        action="store_true",
        help="the client processes in a network namespace of their own, as loadtest's --netns "
        "(root): the server's sends then leave out the viewers' receive path",
    )
    p.add_argument(
        "--cpu-samples",
        metavar="DIR",
        help="sample the server workers' Python stacks by CPU time over the traffic "
        "(loadtest.cpusamples): the stacks go to DIR, their sums by activity to the summary; "
        "the sampling's own cost is in the run's figures",
    )
    p.add_argument("--join-concurrency", type=int, default=500)
    p.add_argument("--connect-timeout", type=float, default=120.0)
    p.add_argument("--drain-timeout", type=float, default=15.0)
    p.add_argument("--json", metavar="FILE", help="write the summary as JSON")
    return p


def plan(opts: argparse.Namespace, procs: int) -> tuple[list[list[list[Any]]], dict[str, str]]:
    """Each client process's shares ``[room, class, first_user, count]``, and each room's class.
    A room of fewer than two viewers per process stays in one process; a bigger one is split.
    With ``opts.posters`` above 0 there is one more process than ``procs``, the last, when some
    room has more than ``posters`` viewers per process: it holds the first ``posters`` viewers of
    each such room, and so posts in them."""
    posters = max(0, opts.posters)
    extra = 0
    if any(
        getattr(opts, k)[0] and posted_apart(posters, procs, getattr(opts, k)[1]) for k in CLASSES
    ):
        extra = 1
    shares: list[list[list[Any]]] = [[] for _ in range(procs + extra)]
    classes: dict[str, str] = {}
    n = 0
    for kind in CLASSES:
        rooms, viewers = getattr(opts, kind)
        for r in range(rooms):
            room = f"pf-{kind}-{r}"
            classes[room] = kind
            if viewers < 2 * procs:
                shares[n % procs].append([room, kind, 0, viewers])
                n += 1
                continue
            first = 0
            if posted_apart(posters, procs, viewers):
                first = posters
                shares[procs].append([room, kind, 0, first])
            base, more = divmod(viewers - first, procs)
            for i in range(procs):
                count = base + (1 if i < more else 0)
                shares[i].append([room, kind, first, count])
                first += count
    return shares, classes


def posted_apart(posters: int, procs: int, viewers: int) -> bool:
    """Whether a room of ``viewers`` over ``procs`` client processes posts from the posters'
    process: more than ``posters`` viewers a process, and split at all."""
    return 0 < posters and posters * procs < viewers and 2 * procs <= viewers


def too_few_posters(opts: argparse.Namespace) -> str | None:
    """Why ``--posters`` cannot carry a class's rate, or None: a room's comments go round its
    posters, each a user the server lets post ``user_comment_limit`` comments a
    ``user_comment_window_s`` (10 in 10 s unless ``--server-setting`` says otherwise), and a
    comment over that limit is refused, not posted later."""
    if opts.posters <= 0:
        return None
    defaults, given = Settings(), server_settings(opts.server_setting)
    limit = int(given.get("user_comment_limit", defaults.user_comment_limit))
    window = int(given.get("user_comment_window_s", defaults.user_comment_window_s))
    per_user = limit / window
    procs = max(1, opts.client_procs)
    for kind in CLASSES:
        rooms, viewers = getattr(opts, kind)
        rate = getattr(opts, f"{kind}_rate")
        apart = posted_apart(opts.posters, procs, viewers)
        if rooms and apart and rate > opts.posters * per_user:
            return (
                f"--posters {opts.posters} cannot post {rate:g} comments a second in a "
                f"{kind} room: each user may post {per_user:g} a second"
            )
    return None


def redis_calls(url: str) -> int | None:
    try:
        import redis
    except ImportError:
        return None
    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
        return sum(int(v["calls"]) for v in stats.values() if isinstance(v, dict))
    except redis.RedisError:
        return None
    finally:
        client.close()


def usage(target: Target) -> dict[int, tuple[float, int, float]]:
    """CPU seconds, RSS and CPU seconds in the kernel of each server process, by pid."""
    out: dict[int, tuple[float, int, float]] = {}
    for proc in target.processes():
        try:
            times = proc.cpu_times()
            out[proc.pid] = (times.user + times.system, proc.memory_info().rss, times.system)
        except psutil.Error:
            continue
    return out


def queued(target: Target) -> dict[int, float]:
    """Seconds each server process' main thread has spent runnable but waiting for a core
    (the second field of ``/proc/PID/schedstat``), by pid: on a machine the load generator
    shares, how long the nodes waited for it."""
    out: dict[int, float] = {}
    for proc in target.processes():
        try:
            fields = Path(f"/proc/{proc.pid}/schedstat").read_text().split()
        except OSError:
            continue
        out[proc.pid] = int(fields[1]) / 1e9
    return out


async def pulse_samples(target: Target, count: int = 8) -> list[float]:
    """``liveroom_pulse_seconds`` from ``count`` scrapes (each answered by some worker)."""
    seen = []
    for _ in range(count):
        try:
            text = await target.http("GET", "/metrics", timeout=5.0)
        except (HttpError, OSError):
            continue
        value = metric_sum(str(text), "liveroom_pulse_seconds")
        if value is not None:
            seen.append(round(value * 1000, 1))
    return seen


#: per node, what ``node_counters`` reads from each node's ``/metrics`` (its own counters,
#: each ``liveroom_<name>``)
NODE_COUNTERS = ("tick_overruns", "short_sends", "slow_consumer_closes", "frames_out", "events_out")
NODE_LABEL = re.compile(r'^liveroom_node\{node="([^"]*)"\} 1(?:\.0)?$', re.M)
#: a bucket of the node's ``liveroom_comment_delay_seconds``: its bound and its running count
DELAY_BUCKET = re.compile(
    r'^liveroom_comment_delay_seconds_bucket\{le="([^"]+)"\} ([0-9.eE+-]+)$', re.M
)


async def node_counters(target: Target, processes: int, tries: int = 40) -> dict[str, Any]:
    """``NODE_COUNTERS`` of each node, by node id: ``/metrics`` is answered by one process at
    a time, whichever the kernel picks, so it is read until every one of ``processes`` nodes
    answered (at most ``tries`` scrapes). A node that answered no scrape is left out. Each
    node's ``comment_delay`` is its ``liveroom_comment_delay_seconds`` buckets (``comment_delays``
    reads them)."""
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(tries):
        if len(seen) >= processes:
            break
        try:
            text = str(await target.http("GET", "/metrics", timeout=5.0))
        except (HttpError, OSError):
            continue
        for node in NODE_LABEL.findall(text):
            if node not in seen:
                seen[node] = {n: metric_sum(text, "liveroom_" + n) or 0.0 for n in NODE_COUNTERS}
                seen[node]["comment_delay"] = {
                    bound: float(count) for bound, count in DELAY_BUCKET.findall(text)
                }
    return seen


def counters_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per node seen both times, how much each counter rose in between; and the totals."""
    nodes = {
        node: {name: round(after[node][name] - before[node][name]) for name in NODE_COUNTERS}
        for node in after
        if node in before
    }
    total = {name: sum(n[name] for n in nodes.values()) for name in NODE_COUNTERS}
    return {"nodes": nodes, "total": total}


def comment_delays(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The nodes' own part of the comments' latency over the traffic, from each node's
    ``liveroom_comment_delay_seconds`` (a frame's oldest comment's age when the frame went out,
    counted per frame written, of the frames looked at: a room's every 0.25 s at most) of the
    nodes seen both times: the frames counted, and the bucket bounds under which half and 99% of
    them were, in ms (``None``: above the highest bound). One distribution over every class,
    weighed by frames (the hot room's dominate), timed at the end of each room's send loop: set
    beside the viewers' latency, what that adds on top is the network's and the clients' (a load
    generator short of CPU, say)."""
    merged: dict[str, float] = {}
    for node, counts in after.items():
        if node not in before:  # as ``counters_between``: a node seen once is left out
            continue
        old = before[node].get("comment_delay", {})
        for bound, count in counts.get("comment_delay", {}).items():
            merged[bound] = merged.get(bound, 0.0) + count - old.get(bound, 0.0)
    bounds = sorted(merged, key=lambda b: float("inf") if b == "+Inf" else float(b))
    total = merged.get("+Inf", 0.0)

    def under(share: float) -> float | None:
        for bound in bounds:  # running counts: the first bound that holds the share
            if merged[bound] >= share * total:
                return None if bound == "+Inf" else round(float(bound) * 1000, 1)
        return None

    return {
        "frames": round(total),
        "p50_ms_at_most": under(0.5) if total else None,
        "p99_ms_at_most": under(0.99) if total else None,
    }


def idle_share(before: Any, after: Any) -> float:
    """The share of the machine's CPU time between two ``psutil.cpu_times()`` that was idle."""
    spent = {name: getattr(after, name) - getattr(before, name) for name in after._fields}
    total = sum(spent.values()) - spent.get("guest", 0.0) - spent.get("guest_nice", 0.0)
    idle = spent["idle"] + spent.get("iowait", 0.0)
    return round(idle / total, 3) if total > 0 else 0.0


async def execute(opts: argparse.Namespace) -> dict[str, Any]:
    settings = server_settings(opts.server_setting)
    namespace = ViewerNamespace().open() if opts.netns else None
    try:
        server = SpawnedServer(
            processes=opts.processes,
            engine=opts.engine,
            redis_url=opts.redis_url,
            tick_ms=opts.tick_ms,
            settings=settings,
            host=namespace.host if namespace else "127.0.0.1",
            env=cpusamples.server_env(opts.cpu_samples) if opts.cpu_samples else None,
        )
        if opts.cpu_samples:
            cpusamples.clear(opts.cpu_samples)
        target = await server.start(timeout=60)
        try:
            workers = await server.workers() if opts.cpu_samples else []
            config = {
                "host": target.host,
                "port": target.port,
                "secret": target.secret,
                "nice": opts.client_nice,
                "netns": namespace.path if namespace else None,
            }
            layout = plan(opts, max(1, opts.client_procs))
            kind = NativePool if opts.clients == "native" else Pool
            async with kind(len(layout[0]), config) as pool:
                summary = await _run(opts, target, pool, *layout, workers=workers)
        finally:
            await asyncio.to_thread(server.stop)
    finally:
        if namespace is not None:
            namespace.close()
    summary["netns"] = namespace is not None
    if namespace is not None:  # removed by now: what crossed the pair
        summary["netns_sent_bytes"] = namespace.sent_bytes
    return summary


async def _run(
    opts: argparse.Namespace,
    target: Target,
    pool: Clients,
    shares: list[list[list[Any]]],
    classes: dict[str, str],
    *,
    workers: list[int],
) -> dict[str, Any]:
    """The run once the server is up: ``workers``, the server's worker pids, are sampled by
    CPU time over the traffic when ``--cpu-samples`` asks for it."""
    rates = {kind: getattr(opts, f"{kind}_rate") for kind in CLASSES}
    connections = sum(count for share in shares for _, _, _, count in share)
    base = usage(target)
    joined = await pool.all(
        "rooms_connect",
        opts.connect_timeout + 30,
        per=[{"shares": share} for share in shares],
        concurrency=max(1, opts.join_concurrency // pool.size),
        timeout=opts.connect_timeout,
    )
    idle = usage(target)
    await asyncio.sleep(2.0)  # a pulse or two with everyone in
    idle_pulse = await pulse_samples(target)
    # each room's comments are posted by one client process: the one holding its first viewers
    # (a split room's: the posters' process, when there is one)
    publish: list[list[list[Any]]] = [[] for _ in range(pool.size)]
    for i, share in enumerate(shares):
        for room, kind, first, _ in share:
            if first == 0:
                publish[i].append([room, rates[kind]])
    counted0 = await node_counters(target, opts.processes)  # its scrapes before the windows
    calls0 = redis_calls(opts.redis_url) if opts.engine == "redis" else None
    sampled = cpusamples.start(opts.cpu_samples, workers) if opts.cpu_samples else []
    machine0 = psutil.cpu_times()
    before, at0, waited0 = usage(target), time.monotonic(), queued(target)
    answers = await pool.all(
        "rooms_traffic",
        opts.duration + 60,
        per=[{"publish": p} for p in publish],
        duration=opts.duration,
        t0=time.time(),
    )
    machine1 = psutil.cpu_times()
    stopped = cpusamples.stop(sampled)
    busy_pulse = await pulse_samples(target)
    after, at1, waited1 = usage(target), time.monotonic(), queued(target)
    calls1 = redis_calls(opts.redis_url) if opts.engine == "redis" else None
    # the stacks are read once the window's own figures are: the wait for the files is not in
    # them (each worker's writing may be)
    samples = await cpusamples.collect(opts.cpu_samples, stopped) if opts.cpu_samples else None
    if opts.cpu_samples and len(samples or {}) < len(workers):
        missing = sorted(set(workers) - set(samples or {}))
        print(f"--cpu-samples: no stacks from worker(s) {missing}", file=sys.stderr)
    counted1 = await node_counters(target, opts.processes)  # its scrapes after the windows
    heads: dict[str, int] = {}
    for answer in answers:
        for room, head in answer["heads"].items():
            heads[room] = max(heads.get(room, 0), head)
    for last in (False, False, True):  # at most 3 drains; the heads move only between
        drained = await pool.all(
            "rooms_drain", opts.drain_timeout + 10, heads=heads, timeout=opts.drain_timeout
        )
        # a reply that came back during the drain (a node still working through its queue
        # when the traffic phase stopped waiting): its comment is past its room's head, and
        # the viewers are drained to it as well, so that ``expected`` counts it
        later = {
            room: head
            for answer in drained
            for room, head in answer["heads"].items()
            if head > heads.get(room, 0)
        }
        if not later or last:
            break
        heads.update(later)
    reports = await pool.all("rooms_report", 60, heads=heads)
    await pool.all("rooms_close", 30)

    per_class: dict[str, Any] = {}
    frames = events = 0
    for kind in CLASSES:
        parts = [r[kind] for r in reports if kind in r]
        if not parts:
            continue
        merged = results.merge(parts)
        lost = merged["gaps"] + sum(p.get("lost", 0) for p in parts)
        latency = results.percentiles(results.histogram(merged["latency"]))
        frames += merged["frames"]
        events += merged["delivered"]
        per_class[kind] = {
            "rooms": getattr(opts, kind)[0],
            "viewers_per_room": getattr(opts, kind)[1],
            "rate_per_room": rates[kind],
            "comments": sum(heads.get(room, 0) for room, k in classes.items() if k == kind),
            "snapshots": merged["snapshots"],
            "expected": merged["expected"],
            "delivered": merged["delivered"],
            "lost": lost,
            "duplicated": merged["duplicated"],
            "skipped": merged["skipped"],
            "frames": merged["frames"],
            # events a frame carried on average: above 1 where a tick's frame held more than one
            # (two comments of the room in one tick), which leaves fewer frames for the same work
            "events_per_frame": (
                round(merged["delivered"] / merged["frames"], 4) if merged["frames"] else None
            ),
            "latency_ms": {k: latency[k] for k in ("p50", "p99", "max")},
            "connect_errors": merged["connect_errors"],
            "closes": merged["closes"],
            "refused": {k: v for k, v in merged["answers"].items() if not k.endswith(":ok")},
        }
    window = at1 - at0
    nodes = []
    for pid, (cpu1, rss, system1) in after.items():
        cpu0, _, system0 = before.get(pid, (cpu1, 0, system1))
        nodes.append(
            {
                "pid": pid,
                "cpu_s": round(cpu1 - cpu0, 2),
                "system_s": round(system1 - system0, 2),
                "cpu_share": round((cpu1 - cpu0) / window, 3),
                # the main thread's time runnable but not running, over the traffic
                "queued_s": round(waited1.get(pid, 0.0) - waited0.get(pid, 0.0), 4),
                "rss_mb": round(rss / 2**20, 1),
                "rss_idle_mb": round(idle.get(pid, (0, 0))[1] / 2**20, 1),
                "rss_base_mb": round(base.get(pid, (0, 0))[1] / 2**20, 1),
            }
        )
    cpu = sum(n["cpu_s"] for n in nodes)
    system = sum(n["system_s"] for n in nodes)
    rss_added = sum(idle.get(pid, (0, 0))[1] - base.get(pid, (0, 0))[1] for pid in idle)
    summary: dict[str, Any] = {
        "scenario": "platform",
        "engine": opts.engine,
        "processes": opts.processes,
        "client_procs": pool.size,
        "clients": opts.clients,
        "poster_proc": len(shares) > max(1, opts.client_procs),
        "client_nice": pool.nice,
        # each client process's CPU over the traffic, as a share of a core, and the machine's
        # idle share over the same minutes: a p99 read with the machine full is the machine's
        "client_cpu_share": [round(a.get("cpu_s", 0.0) / opts.duration, 3) for a in answers],
        "machine_idle_share": idle_share(machine0, machine1),
        "tick_ms": opts.tick_ms,
        "duration_s": round(window, 2),
        "connections": connections,
        "snapshots": sum(j["snapshots"] for j in joined),
        "join_s": round(max(j["all_s"] for j in joined), 2),
        "classes": per_class,
        "behind_at_end": sum(d["behind"] for d in drained),
        "server_cpu_s": round(cpu, 2),
        "cpu_us_per_frame": round(cpu / frames * 1e6, 2) if frames else None,
        # the part of it in the kernel: the fan-out's sends are most of it (compare the hot
        # room alone's "of it in the kernel")
        "system_us_per_frame": round(system / frames * 1e6, 2) if frames else None,
        # the same CPU over the events delivered (a frame carries one or more): the figure that
        # does not move with how the events fell into ticks (``events_per_frame``)
        "cpu_us_per_event": round(cpu / events * 1e6, 2) if events else None,
        "kb_per_connection": round(rss_added / connections / 1024, 2) if connections else None,
        "nodes": nodes,
        # per node over the traffic: ticks skipped, sends the kernel did not take whole (a
        # viewer's socket buffer full), slow-consumer closes, frames and events written
        "node_counters": counters_between(counted0, counted1),
        # the nodes' part of the comments' latency (``liveroom_comment_delay_seconds``): from the
        # accept to the end of the room's send loop, per frame written of those looked at, all
        # classes together
        "server_comment_delay": comment_delays(counted0, counted1),
        "pulse_ms_idle": idle_pulse,
        "pulse_ms_busy": busy_pulse,
        "redis_commands_per_s": (
            round((calls1 - calls0) / window) if calls0 is not None and calls1 is not None else None
        ),
        # ``--cpu-samples``: by server process, its CPU seconds over the traffic as sampled and
        # the costliest activities in ms a second (``loadtest.cpusamples``)
        "cpu_samples": (
            cpusamples.summary(samples, window, opts.cpu_samples) if samples is not None else None
        ),
    }
    failures = [
        f"{kind}: {c['lost']} lost, {c['duplicated']} duplicated"
        for kind, c in per_class.items()
        if c["lost"] or c["duplicated"]
    ]
    if summary["snapshots"] < connections:
        failures.append(f"{connections - summary['snapshots']} viewers got no snapshot")
    summary["failures"] = failures
    summary["ok"] = not failures
    return summary


def main(argv: list[str] | None = None) -> int:
    opts = build_parser().parse_args(argv)
    if opts.processes > 1 and opts.engine != "redis":
        print("loadtest platform: --processes above 1 needs --engine redis", file=sys.stderr)
        return 2
    few = too_few_posters(opts)
    if few:
        print(f"loadtest platform: {few}", file=sys.stderr)
        return 2
    raise_fd_limit()
    try:
        summary = asyncio.run(execute(opts))
    except (SetupError, HttpError, WorkerFailed, BuildError, NativeFailed, OSError) as exc:
        print(f"loadtest platform: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(summary, indent=2)
    print(text)
    if opts.json:
        Path(opts.json).write_text(text)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
