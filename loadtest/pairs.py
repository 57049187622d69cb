"""The platform mix against the hot room alone, in pairs: ``python -m loadtest.pairs --pairs 4``.

Issue 23's first bar reads the mix's CPU per delivered frame against the single hot room's,
measured in the same hour. One pair is two runs, one after the other, each in a process of its own:
``python -m loadtest platform`` (the mix) and the mix's hot room alone: the same scenario with the
small and medium classes left out (``--small 0x0 --medium 0x0``), so that the hot room has the same
viewers spread the same way, and its comments come from one poster at the same rate, paced by the
same code; the same server processes, engine, Redis, duration, client priority and kind of client
processes (``--clients``: Python, or compiled from ``loadtest/viewers.c``). A pair's ratio moves
from run to run with the hot room's frame count (how many of its comments share a tick's frame;
BENCHMARKS.md, "Session 36"), so this runs ``--pairs`` of them in turn and reports each pair and
the median. Both runs post the hot room's comments from a client process of their own (platform's
``--posters``): posted from a process that also holds thousands of viewers, they came late whenever
the viewers' frames kept it busy, and the mix's hot room, whose poster shared its process with
10,500 viewers, went out in 1.3–1.8 million frames against the alone run's 2 million
(BENCHMARKS.md, "Session 39").

``--alone fanout`` runs the hot room alone as ``python -m loadtest fanout --spawn`` instead, as
this tool did up to session 37. That scenario splits the comment rate over its client
processes: two posters at half the rate each, whose comments share a tick's frame as often as
their phases fall together, so the hot room alone went out in 52–100% as many frames as it had
events, against one comment a frame for one poster (BENCHMARKS.md, "Session 38").

For each pair: both runs' server CPU per frame (and the kernel's part), the ratio, the mix's p99
latency per room class (and the nodes' own part of it, ``server_p99_ms_at_most``: see
``platform``'s ``server_comment_delay``), what was lost or duplicated, and the hot room's frames
and events in each run. Beside the ratio, the same over events delivered (``ratio_by_event``):
even with its own poster, the mix's hot room fits its events into fewer frames than it does
alone (2-10% fewer with ``--netns``, up to a fifth fewer on loopback, in session 41: its events
reach the nodes less evenly spaced), and a frame costs its sends whether it carries one event or
two (BENCHMARKS.md, "Session 41"). The bar is set on frames; the figure by event says how much
of a ratio is that. Then the median ratio, how many pairs are within ``--bar``, the worst p99,
and the hour's figures (``hour_figure``): the median CPU per frame of the mix runs over that of
the alone runs, with a 95% interval from resampling the pairs, and the medians' ratio by event.
The result also names the clients and whether the viewers sat in a namespace (``clients``,
``netns``), and gives the machine's speed before the first run and after the last
(``machine_loop_us``, ``loadtest/machine.py``). Exits 1 when a run fails its own correctness checks,
2 for ``--alone fanout --clients native`` (fanout's clients are Python). ``--mix-arg`` passes a flag
on to the mix only (once per word: ``--mix-arg=--small --mix-arg=200x5``): meant for the other
classes; a flag that changes the servers or the clients (``--tick-ms``, ``--server-setting``,
``--client-procs``, ``--clients``) makes the two runs of a pair unequal.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from loadtest import machine
from loadtest.results import emit

CLASSES = ("small", "medium", "hot")
#: the hour's figure gets a 95% interval from this many pairs on, by this many resamplings
INTERVAL_PAIRS = 5
INTERVAL_DRAWS = 4000


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest.pairs", description=__doc__)
    p.add_argument("--pairs", type=int, default=4)
    p.add_argument("--bar", type=float, default=1.3, help="the ratio a pair should stay within")
    p.add_argument("--processes", type=int, default=2, help="server processes, both runs")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--engine", choices=["memory", "redis"], default="redis")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--client-nice", type=int, default=4)
    p.add_argument("--connect-timeout", type=float, default=300.0)
    p.add_argument("--hot-viewers", type=int, default=5000, help="the hot room's viewers")
    p.add_argument("--hot-rate", type=float, default=20.0, help="its comments a second")
    p.add_argument(
        "--posters",
        type=int,
        default=50,
        help="platform's --posters, both runs (0: the hot room posts from a client process "
        "holding thousands of its viewers, as up to session 38)",
    )
    p.add_argument(
        "--netns",
        action="store_true",
        help="both runs with their client processes in a network namespace of their own (root)",
    )
    p.add_argument(
        "--alone",
        choices=["platform", "fanout"],
        default="platform",
        help="the scenario that runs the hot room alone (fanout: as up to session 37)",
    )
    p.add_argument(
        "--clients",
        choices=["python", "native"],
        default="python",
        help="platform's --clients, both runs: the viewers in Python or compiled from "
        "loadtest/viewers.c (not with --alone fanout, whose clients are Python)",
    )
    p.add_argument("--mix-arg", action="append", default=[], metavar="WORD")
    p.add_argument("--json", metavar="FILE", help="also write the result to this file")
    return p


def commands(opts: argparse.Namespace, mix_out: Path, hot_out: Path) -> list[list[str]]:
    """The mix's command and the hot room's, as a pair runs them."""
    shared = [
        "--processes", str(opts.processes), "--duration", str(opts.duration),
        "--engine", opts.engine, "--redis-url", opts.redis_url,
        "--client-nice", str(opts.client_nice), "--connect-timeout", str(opts.connect_timeout),
        *(["--netns"] if opts.netns else []),
    ]  # fmt: skip
    if opts.alone == "fanout" and opts.clients == "native":
        raise ValueError("--alone fanout has Python clients only")
    posters = ["--posters", str(opts.posters), "--clients", opts.clients]
    mix = [
        sys.executable, "-m", "loadtest", "platform", *shared, *posters,
        "--hot", f"1x{opts.hot_viewers}", "--hot-rate", str(opts.hot_rate),
        *opts.mix_arg, "--json", str(mix_out),
    ]  # fmt: skip
    if opts.alone == "fanout":
        hot = [
            sys.executable, "-m", "loadtest", "fanout", "--spawn", *shared,
            "--viewers", str(opts.hot_viewers), "--rate", str(opts.hot_rate),
            "--json", str(hot_out),
        ]  # fmt: skip
    else:
        hot = [
            sys.executable, "-m", "loadtest", "platform", *shared, *posters,
            "--small", "0x0", "--medium", "0x0",
            "--hot", f"1x{opts.hot_viewers}", "--hot-rate", str(opts.hot_rate),
            "--json", str(hot_out),
        ]  # fmt: skip
    return [mix, hot]


def alone_row(hot: dict[str, Any]) -> dict[str, Any]:
    """The hot room alone's figures, from either scenario's JSON summary."""
    if hot.get("scenario") == "platform":
        room = hot["classes"]["hot"]
        return {
            "us_per_frame": hot["cpu_us_per_frame"],
            "system_us_per_frame": hot["system_us_per_frame"],
            "us_per_event": hot["cpu_us_per_event"],
            "frames": room["frames"],
            "events": room["delivered"],
            "lost": room["lost"],
            "duplicated": room["duplicated"],
            "ok": hot["ok"],
        }
    cpu_s, delivered = hot["server_cpu_s"], hot["delivered"]
    return {
        "us_per_frame": hot["server_cpu_us_per_frame"],
        "system_us_per_frame": hot["server_system_us_per_frame"],
        "us_per_event": round(cpu_s / delivered * 1e6, 2) if cpu_s and delivered else None,
        "frames": hot["frames"],
        "events": delivered,
        "lost": hot["lost"],
        "duplicated": hot["duplicated"],
        "ok": hot["ok"],
    }


def pair_row(mix: dict[str, Any], hot: dict[str, Any]) -> dict[str, Any]:
    """One pair's figures, from the two runs' JSON summaries."""
    classes = {kind: mix["classes"][kind] for kind in CLASSES if kind in mix["classes"]}
    alone = alone_row(hot)
    mix_event, alone_event = mix.get("cpu_us_per_event"), alone["us_per_event"]
    return {
        "mix_us_per_frame": mix["cpu_us_per_frame"],
        "mix_system_us_per_frame": mix["system_us_per_frame"],
        "hot_us_per_frame": alone["us_per_frame"],
        "hot_system_us_per_frame": alone["system_us_per_frame"],
        "ratio": round(mix["cpu_us_per_frame"] / alone["us_per_frame"], 3),
        # the same over the events delivered (``platform``'s ``cpu_us_per_event``): the mix's
        # hot room may fit its events into fewer frames (``hot_frames``) than it does alone
        "mix_us_per_event": mix_event,
        "hot_us_per_event": alone_event,
        "ratio_by_event": round(mix_event / alone_event, 3) if mix_event and alone_event else None,
        "p99_ms": {kind: c["latency_ms"]["p99"] for kind, c in classes.items()},
        # the mix's nodes' own part of it: the bucket bound under which 99% of their frames
        # with a comment went out, counted from the accept (``platform``'s
        # ``server_comment_delay``: every class in one, weighed by frames); what the p99s
        # above add is mostly the network's and the clients'
        "server_p99_ms_at_most": mix.get("server_comment_delay", {}).get("p99_ms_at_most"),
        "lost": sum(c["lost"] for c in classes.values()) + alone["lost"],
        "duplicated": sum(c["duplicated"] for c in classes.values()) + alone["duplicated"],
        "hot_frames": {"mix": classes["hot"]["frames"], "alone": alone["frames"]},
        "hot_events": {"mix": classes["hot"]["delivered"], "alone": alone["events"]},
        "ok": bool(mix["ok"] and alone["ok"]),
    }


def hour_figure(rows: list[dict[str, Any]], bar: float) -> dict[str, Any]:
    """The hour's figures: the median of the mix runs' CPU per frame, the median of the alone
    runs', and their ratio, with its 95% interval. A single run's figure moves by about ±6%
    from run to run (BENCHMARKS.md, "Session 39"), so one pair's ratio can land on either side
    of a bar that the hour's figures clear, or the other way round. The interval comes from
    resampling the pairs (a bootstrap: ``INTERVAL_DRAWS`` draws of as many pairs as were run,
    with replacement, a fixed seed so that the same pairs give the same interval); with fewer
    than ``INTERVAL_PAIRS`` pairs there is none: a percentile interval of a median from so few
    is too coarse to read (it also comes out somewhat narrow with the 5 to 10 pairs a session
    runs). ``interval_within_bar``: the interval's top, as given, is within ``bar``."""
    mix = [row["mix_us_per_frame"] for row in rows]
    alone = [row["hot_us_per_frame"] for row in rows]
    counted = [row for row in rows if row.get("ratio_by_event")]  # both runs gave the figure
    by_event = (
        statistics.median(row["mix_us_per_event"] for row in counted)
        / statistics.median(row["hot_us_per_event"] for row in counted)
        if counted
        else None
    )
    figure: dict[str, Any] = {
        "mix_us_per_frame": round(statistics.median(mix), 3),
        "alone_us_per_frame": round(statistics.median(alone), 3),
        "ratio": round(statistics.median(mix) / statistics.median(alone), 3),
        # the medians' ratio over events delivered instead of frames (no interval: the bar is
        # set on frames; this says how much of the ratio is the events falling into fewer frames)
        "ratio_by_event": round(by_event, 3) if by_event is not None else None,
        "interval": None,
        "interval_within_bar": None,
    }
    if len(rows) >= INTERVAL_PAIRS:
        rng = random.Random(0)
        draws = []
        for _ in range(INTERVAL_DRAWS):
            picks = [rng.randrange(len(rows)) for _ in rows]
            draws.append(
                statistics.median(mix[i] for i in picks)
                / statistics.median(alone[i] for i in picks)
            )
        draws.sort()
        tail = round(0.025 * INTERVAL_DRAWS)  # draws left out below the interval, and above
        low, high = round(draws[tail], 3), round(draws[INTERVAL_DRAWS - 1 - tail], 3)
        figure["interval"] = [low, high]
        figure["interval_within_bar"] = high <= bar
    return figure


def summary(rows: list[dict[str, Any]], bar: float) -> dict[str, Any]:
    ratios = [row["ratio"] for row in rows]
    return {
        "pairs": rows,
        "median_ratio": round(statistics.median(ratios), 3),
        "within_bar": sum(1 for r in ratios if r <= bar),
        "hour": hour_figure(rows, bar),
        "bar": bar,
        "worst_p99_ms": max(max(row["p99_ms"].values()) for row in rows),
        "lost": sum(row["lost"] for row in rows),
        "duplicated": sum(row["duplicated"] for row in rows),
        "ok": all(row["ok"] for row in rows),
    }


def run(opts: argparse.Namespace) -> dict[str, Any]:
    rows = []
    before = machine.loop_us()
    with tempfile.TemporaryDirectory(prefix="loadtest-pairs-") as folder:
        for n in range(opts.pairs):
            outs = Path(folder, f"mix{n}.json"), Path(folder, f"hot{n}.json")
            for command, out in zip(commands(opts, *outs), outs, strict=True):
                done = subprocess.run(command, capture_output=True, text=True)
                if not out.exists():
                    raise RuntimeError(f"{' '.join(command[2:5])} wrote no summary:\n"
                                       + done.stdout[-2000:] + done.stderr[-2000:])  # fmt: skip
            row = pair_row(*(json.loads(out.read_text()) for out in outs))
            print(
                f"pair {n + 1}: mix {row['mix_us_per_frame']} µs/frame, hot room alone "
                f"{row['hot_us_per_frame']}, ratio {row['ratio']} (by event "
                f"{row['ratio_by_event']}), p99 {row['p99_ms']} (the nodes' part at most "
                f"{row['server_p99_ms_at_most']})",
                file=sys.stderr,
            )
            rows.append(row)
    result = summary(rows, opts.bar)
    result["clients"] = opts.clients  # which load generator measured them (platform --clients)
    result["netns"] = opts.netns
    result["machine_loop_us"] = [before, machine.loop_us()]  # the machine's speed, around it
    result["python"] = machine.interpreter()
    return result


def main(argv: list[str] | None = None) -> int:
    opts = build_parser().parse_args(argv)
    if opts.alone == "fanout" and opts.clients == "native":
        print("loadtest.pairs: --alone fanout has Python clients only", file=sys.stderr)
        return 2
    result = run(opts)
    hour = result["hour"]
    before, after = result["machine_loop_us"]
    print(
        f"the hour: mix {hour['mix_us_per_frame']} µs/frame, hot room alone "
        f"{hour['alone_us_per_frame']} (medians), ratio {hour['ratio']}, "
        + (
            f"95% interval {hour['interval']}"
            if hour["interval"]
            else f"no interval (fewer than {INTERVAL_PAIRS} pairs)"
        )
        + f"; {result['within_bar']} of {len(result['pairs'])} pairs within {opts.bar}"
        + f"; by event {hour['ratio_by_event']}"
        + f"; a Python loop {before} µs before, {after} after (loadtest/machine.py)",
        file=sys.stderr,
    )
    emit(result, opts.json)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
