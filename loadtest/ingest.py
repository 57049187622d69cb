"""What accepting a comment costs the server: ``python -m loadtest ingest``.

Spawns one server (``--engine memory`` or ``redis``), connects ``--publishers`` signed-in
viewers spread round-robin over ``--rooms`` rooms, and has them post ``--rate`` comments a second
in all (each publisher its share, each comment a fresh text, so nothing is a duplicate) for
``--duration`` seconds. ``--likes`` adds that many likes a second on the same connections.
Each comment goes when the clock reaches its time (``pace``), checked every ``--step-ms``
(1 ms): at 2,000 a second, one or two arrive together, as from many independent viewers.
Comments that arrive together share a turn of the server's event loop (and, on Redis, one
script pipeline) and cost less CPU each: ``--step-ms 10``, the pacing before session 46,
sends them in bursts (20 at 2,000 a second) and reports about a tenth less at 2,000 a second,
a quarter less at 460 (BENCHMARKS.md, "Session 46").

It reports the server's CPU time (user + system of its process, from ``/proc``: the figure that
does not depend on how loaded the machine is) over the traffic window, divided by the comments
the server accepted (replies with ``ok``), and the same for an idle window before the traffic
(``--idle`` seconds; by default as long as the traffic, at most 3 s), so the node's fixed cost
(ticks, pulses) can be told apart. The traffic starts once every publisher has its snapshot.
The server's defaults limit each user to 1 comment a second and each room to 40: the bench
raises both (so every comment is accepted) unless ``--server-setting`` says otherwise. Every
accepted comment is also a room event, delivered to the room's publishers at the next tick:
that fan-out is part of the figure, as it is of a real room's ingest.

``--profile FILE`` runs the server under cProfile (the figure is then not the one to quote).
``--callgrind DIR`` runs it under valgrind's callgrind, instrumented over the traffic window only,
and reports the instructions the server ran per accepted comment: a count that does not depend
on the machine's load (the process runs about 50 times slower; keep ``--rate`` low). The dump
in DIR opens with ``callgrind_annotate``; Python's own functions show as the interpreter's.
``--cpu-samples DIR`` samples the server's Python stacks by its own CPU time over the traffic
window (``loadtest/cpusamples.py``) and adds the summary by activity to the result; the stacks
stay in DIR. The sampler's work is in the CPU figure then: compare such runs with each other.

The publishers time each command from its send to its reply (``reply_ms``: p50 to p99.9 and max,
over the traffic window), so a change that saves CPU by answering later shows it.

The result also gives the machine's speed just before and after the run
(``machine_loop_us``, ``loadtest/machine.py``): µs a plain Python loop takes, the figure
BENCHMARKS.md reads the CPU times against.

``--runs N`` runs it N times in a row, each with a server of its own, and gives every run's
result and a summary (``runs_summary``): each run's CPU per comment, their median, lowest and
highest, and how many were within ``--bar-us`` (60 µs, issue 23's acceptance). The figure moves
by a third from one stretch of minutes to the next on a shared machine (BENCHMARKS.md, "Session
54"), so one run says little about the bar.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psutil
from hdrh.histogram import HdrHistogram

from liveroom import auth
from loadtest import cpusamples, machine, netns, wsclient
from loadtest.cli import raise_fd_limit
from loadtest.netns import ViewerNamespace
from loadtest.results import MAX_US, emit, percentiles
from loadtest.server import SpawnedServer, Target, server_settings

#: issue 23's acceptance: server CPU per accepted comment, its reply included (``--bar-us``)
BAR_US = 60.0

#: the comments' text by default: 24 characters and more, over the 20 of a keyword (coupons, red
#: packets, lucky bags), so the keyword features let it pass at their length check
TEXT = "comment {n} from the bench"


def comment_text(value: str) -> str:
    """``--text``: a format with ``{n}``, so that every comment's text is new (the same text
    again from a user within the dedupe window is refused as a duplicate)."""
    try:
        if value.format(n=1) == value.format(n=2):
            raise argparse.ArgumentTypeError("the text must hold {n}, the comment's number")
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"not a text with {{n}}: {exc}") from None
    return value


class Publisher:
    """One signed-in connection that posts comments and counts the replies it gets."""

    __slots__ = (
        "user",
        "room",
        "ws",
        "joined",
        "sent",
        "accepted",
        "refused",
        "events",
        "codes",
        "n",
        "sent_at",
        "waits",
    )

    def __init__(self, user: str, room: str) -> None:
        self.user = user
        self.room = room
        self.ws: wsclient.WsClient | None = None
        self.joined = False  # its snapshot is in
        self.sent = self.accepted = self.refused = self.events = self.n = 0
        self.codes: dict[str, int] = {}
        self.sent_at: dict[str, float] = {}  # by command id, until its reply
        self.waits: list[float] = []  # seconds from each command's send to its reply

    def on_message(self, payload: bytes) -> None:
        try:
            items = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        now = time.monotonic()
        for item in items if isinstance(items, list) else [items]:
            kind = item.get("type")
            if kind == "reply":
                sent = self.sent_at.pop(str(item.get("id")), None)
                if sent is not None:
                    self.waits.append(now - sent)
                if item.get("ok"):
                    self.accepted += 1
                else:
                    self.refused += 1
                    code = str(item.get("error", {}).get("code"))
                    self.codes[code] = self.codes.get(code, 0) + 1
            elif kind == "comment":
                self.events += 1
            elif kind == "snapshot":
                self.joined = True

    def on_close(self, code: int | None) -> None:
        self.ws = None

    def send(self, kind: str, **fields: Any) -> None:
        if self.ws is None:
            return
        self.n += 1
        command_id = str(self.n)
        body = orjson.dumps({"type": kind, "id": command_id, **fields})
        if self.ws.send_text(body):
            self.sent += 1
            self.sent_at[command_id] = time.monotonic()


def _reply_ms(waits: list[float]) -> dict[str, float]:
    """The percentiles of ``waits`` (seconds), in ms, as the other scenarios give latencies."""
    h = HdrHistogram(1, MAX_US, 3)
    for wait in waits:
        h.record_value(min(max(round(wait * 1e6), 1), MAX_US))
    return percentiles(h)


def cpu_seconds(target: Target) -> tuple[float, float]:
    """User and system CPU seconds of the server's processes."""
    user = system = 0.0
    for proc in target.processes():
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        user += times.user
        system += times.system
    return user, system


def callgrind(pid: int, *options: str) -> None:
    subprocess.run(["callgrind_control", *options, str(pid)], check=True, capture_output=True)


def dumped_instructions(folder: Path, pid: int, part: int) -> int:
    """Instructions in dump ``part`` of ``pid``."""
    text = (folder / f"callgrind.out.{pid}.{part}").read_bytes()
    found = re.search(rb"^(?:summary|totals): (\d+)", text, re.M)
    return int(found.group(1)) if found else 0


async def pace(
    pubs: list[Publisher],
    rate: float,
    likes: float,
    duration: float,
    step: float = 0.001,
    text: str = TEXT,
) -> None:
    """Send ``rate`` comments and ``likes`` likes a second over ``pubs``, round-robin, for
    ``duration`` seconds: ``int(rate * duration)`` comments in all, the n-th when the clock
    passes ``n / rate``. The loop sleeps at least ``step`` between wake-ups, so each wake-up
    sends what fell due since the one before: about ``rate * step`` together, more after a
    late wake-up, which catches up at once instead of falling behind the rate. The n-th
    comment says ``text.format(n=n)``."""
    start = time.monotonic()
    comments = liked = 0
    while True:
        elapsed = min(time.monotonic() - start, duration)
        for _ in range(int(rate * elapsed) - comments):
            comments += 1
            pubs[(comments - 1) % len(pubs)].send("comment", text=text.format(n=comments))
        for _ in range(int(likes * elapsed) - liked):
            liked += 1
            pubs[(liked - 1) % len(pubs)].send("like", count=1)
        if elapsed >= duration:
            return
        due = [duration]
        if rate > 0:
            due.append((comments + 1) / rate)
        if likes > 0:
            due.append((liked + 1) / likes)
        await asyncio.sleep(max(step, min(due) - (time.monotonic() - start)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "user_comment_limit": 100_000,
        "room_comment_cap": 0,
        "command_rate": 10_000,
        "command_burst": 10_000,
    }
    settings.update(server_settings(args.server_setting))
    wrap: list[str] = []
    if args.callgrind:
        Path(args.callgrind).mkdir(parents=True, exist_ok=True)
        wrap = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={args.callgrind}/callgrind.out.%p",
        ]
    namespace = ViewerNamespace().open() if args.netns else None
    try:
        result = await _measure(args, settings, wrap, namespace)
    finally:
        if namespace is not None:
            namespace.close()
    if namespace is not None:
        result["netns_sent_bytes"] = namespace.sent_bytes  # what the server sent over the pair
    return result


async def _measure(
    args: argparse.Namespace,
    settings: dict[str, Any],
    wrap: list[str],
    namespace: ViewerNamespace | None,
) -> dict[str, Any]:
    server = SpawnedServer(
        engine=args.engine,
        redis_url=args.redis_url,
        tick_ms=args.tick_ms,
        settings=settings,
        profile=args.profile,
        wrap=wrap,
        host=namespace.host if namespace else "127.0.0.1",
        env=cpusamples.server_env(args.cpu_samples) if args.cpu_samples else None,
    )
    if args.cpu_samples:
        cpusamples.clear(args.cpu_samples)
    target = await server.start(timeout=600 if wrap else 30)
    pid = target.pids[0]
    pubs: list[Publisher] = []
    try:
        if namespace is not None:
            # the server runs (and stays) in this namespace; from here on this process, the
            # publishers' side, opens its sockets in the viewers' one, across the veth pair
            netns.enter(namespace.path)
        pubs = [Publisher(f"p{i}", f"ingest{i % args.rooms}") for i in range(args.publishers)]
        for pub in pubs:
            token = auth.mint(target.secret, pub.user, room=pub.room, ttl_s=3600)
            pub.ws = await wsclient.connect(
                target.port,
                f"/ws?room={pub.room}&token={token}",
                pub.on_message,
                pub.on_close,
                10.0,
                target.host,
            )
        # every snapshot in (under valgrind the joins take a while), then the joins settled
        deadline = time.monotonic() + (600 if wrap else 30)
        while not all(p.joined for p in pubs) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        if args.callgrind:
            callgrind(pid, "-i", "on")
        idle_at, idle_cpu = time.monotonic(), sum(cpu_seconds(target))
        await asyncio.sleep(args.idle if args.idle is not None else min(args.duration, 3.0))
        idle_s = time.monotonic() - idle_at
        idle_rate = (sum(cpu_seconds(target)) - idle_cpu) / idle_s
        if args.callgrind:
            callgrind(pid, "-d")  # dump 1: the idle window (and the counters start again)
        accepted0 = sum(p.accepted for p in pubs)
        sampled = cpusamples.start(args.cpu_samples, [pid]) if args.cpu_samples else []
        at0, (user0, sys0) = time.monotonic(), cpu_seconds(target)
        await pace(pubs, args.rate, args.likes, args.duration, args.step_ms / 1000, args.text)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # every reply in
            if sum(p.accepted + p.refused for p in pubs) >= sum(p.sent for p in pubs):
                break
            await asyncio.sleep(0.02)
        at1, (user1, sys1) = time.monotonic(), cpu_seconds(target)
        stopped = cpusamples.stop(sampled)
        instructions = idle_ir = 0.0
        if args.callgrind:
            callgrind(pid, "-d")  # dump 2: the traffic window
            callgrind(pid, "-i", "off")
            idle_ir = dumped_instructions(Path(args.callgrind), pid, 1) / idle_s
            instructions = dumped_instructions(Path(args.callgrind), pid, 2)
        accepted = sum(p.accepted for p in pubs) - accepted0
        window = at1 - at0
        user, system = user1 - user0, sys1 - sys0
        cpu = user + system
        # every accepted comment goes to each publisher of its room at the next tick
        by_room: dict[str, list[Publisher]] = {}
        for p in pubs:
            by_room.setdefault(p.room, []).append(p)
        expected = sum(
            sum(p.accepted for p in members) * len(members) for members in by_room.values()
        )
        deadline = time.monotonic() + 5
        while sum(p.events for p in pubs) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        samples = await cpusamples.collect(args.cpu_samples, stopped) if args.cpu_samples else None
        codes: dict[str, int] = {}
        for p in pubs:
            for code, n in p.codes.items():
                codes[code] = codes.get(code, 0) + n
        return {
            "engine": args.engine,
            "publishers": args.publishers,
            "rooms": args.rooms,
            "netns": namespace is not None,
            "rate": args.rate,
            "likes": args.likes,
            "duration_s": round(window, 2),
            "sent": sum(p.sent for p in pubs),
            "accepted": accepted,
            "refused": codes,
            "events_expected": expected,
            "events_seen": sum(p.events for p in pubs),
            # from each command's send to its reply, as the publishers saw it
            "reply_ms": _reply_ms([wait for p in pubs for wait in p.waits]),
            "server_cpu_s": round(cpu, 3),
            "server_idle_cpu_per_s": round(idle_rate, 4),
            "cpu_us_per_comment": round(cpu / accepted * 1e6, 1) if accepted else None,
            "user_us_per_comment": round(user / accepted * 1e6, 1) if accepted else None,
            "system_us_per_comment": round(system / accepted * 1e6, 1) if accepted else None,
            "instructions_per_comment": (
                round(instructions / accepted) if instructions and accepted else None
            ),
            "instructions_per_comment_less_idle": (
                round((instructions - idle_ir * window) / accepted)
                if instructions and accepted
                else None
            ),
            "cpu_us_per_comment_less_idle": (
                round((cpu - idle_rate * window) / accepted * 1e6, 1) if accepted else None
            ),
            # ``--cpu-samples``: the server's CPU over the traffic as sampled, by activity
            "cpu_samples": (
                cpusamples.summary(samples, window, args.cpu_samples)
                if samples is not None
                else None
            ),
        }
    finally:
        for pub in pubs:
            if pub.ws is not None:
                pub.ws.abort()
        await asyncio.to_thread(server.stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest ingest", description=__doc__)
    parser.add_argument("--publishers", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--rate", type=float, default=2000.0, help="comments per second, in all")
    parser.add_argument("--likes", type=float, default=0.0, help="likes per second, in all")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--text",
        type=comment_text,
        default=TEXT,
        help="the comments' text, with {n} for the comment's number (default %(default)r, "
        "longer than a keyword: '{n}号想要' is a short comment, which the keyword features "
        "look up)",
    )
    parser.add_argument(
        "--step-ms",
        type=float,
        default=1.0,
        help="the pacer's shortest sleep: comments due within one step go out together "
        "(1 ms: one or two at a time at 2,000 a second; 10 ms: bursts of 20, as before "
        "session 46, which the server handles for less CPU each)",
    )
    parser.add_argument(
        "--idle",
        type=float,
        help="seconds of the idle window measured before the traffic (default: the duration, "
        "at most 3); longer gives a steadier idle rate to subtract under --callgrind",
    )
    parser.add_argument("--engine", choices=["memory", "redis"], default="memory")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--tick-ms", type=int, default=50)
    parser.add_argument(
        "--netns",
        action="store_true",
        help="the publishers in a network namespace of their own, as loadtest's --netns (root): "
        "the server's sends then leave out the publishers' receive path",
    )
    parser.add_argument("--server-setting", action="append", metavar="NAME=VALUE")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the server into FILE")
    parser.add_argument("--callgrind", metavar="DIR", help="count the server's instructions")
    parser.add_argument(
        "--cpu-samples",
        metavar="DIR",
        help="sample the server's stacks by its CPU time over the traffic, into DIR "
        "(loadtest/cpusamples.py); the summary is in the result",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="run it this many times, one after another, each with a server of its own; past "
        "one, the result is each run's and their summary (``runs_summary``): the median, the "
        "range and how many runs were within --bar-us",
    )
    parser.add_argument(
        "--bar-us",
        type=float,
        default=BAR_US,
        help="the bar that --runs counts runs within: CPU µs per comment (default %(default)s, "
        "issue 23's acceptance)",
    )
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    raise_fd_limit()
    runs = [one_run(args) for _ in range(args.runs)]
    if args.runs == 1:
        emit(runs[0], args.json)
    else:
        emit({"runs": runs, "runs_summary": summary(runs, args.bar_us)}, args.json)
    return 0


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    """One run, with the machine's speed just before and after it."""
    before = machine.loop_us()
    result = asyncio.run(run(args))
    result["machine_loop_us"] = [before, machine.loop_us()]  # the machine's speed, around it
    result["python"] = machine.interpreter()
    return result


def summary(runs: list[dict[str, Any]], bar_us: float) -> dict[str, Any]:
    """What ``--runs`` adds: the runs' CPU per comment (each, the median, the lowest and the
    highest), how many were within ``bar_us``, and the machine's speed over them all. A run
    that accepted no comment has no figure: it counts as over the bar."""
    figures = [run["cpu_us_per_comment"] for run in runs]
    known = sorted(figure for figure in figures if figure is not None)
    loops = [us for run in runs for us in run["machine_loop_us"]]
    return {
        "cpu_us_per_comment": figures,
        "median": statistics.median(known) if known else None,
        "lowest": known[0] if known else None,
        "highest": known[-1] if known else None,
        "bar_us": bar_us,
        "within_bar": sum(1 for figure in known if figure <= bar_us),
        "runs": len(runs),
        "machine_loop_us": [min(loops), max(loops)],
    }


if __name__ == "__main__":
    sys.exit(main())
