"""The ``platform`` scenario: many rooms of three classes on two server processes and Redis."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import orjson
import pytest

from loadtest import netns
from loadtest.platform import build_parser, comment_delays, idle_share, plan, too_few_posters
from loadtest.rooms import Pacer
from tests.timeouts import scaled


def test_the_plan_keeps_small_rooms_whole_and_splits_big_ones() -> None:
    """A small room's viewers sit in one client process; a big room's are shared out, each
    viewer once, with user numbers that do not repeat within the room."""
    opts = build_parser().parse_args(
        ["--small", "5x3", "--medium", "1x10", "--hot", "0x0", "--posters", "0"]
    )
    shares, classes = plan(opts, 2)
    assert len(shares) == 2
    assert set(classes.values()) == {"small", "medium"} and len(classes) == 6
    small = [s for share in shares for s in share if s[1] == "small"]
    assert sorted(s[0] for s in small) == [f"pf-small-{i}" for i in range(5)]
    assert all(s[2] == 0 and s[3] == 3 for s in small)
    medium = [(s[2], s[3]) for share in shares for s in share if s[1] == "medium"]
    assert sorted(medium) == [(0, 5), (5, 5)]


def test_a_big_room_posts_from_a_process_of_its_own() -> None:
    """With ``--posters 50``, a room of more than 50 viewers per client process has its first
    50 in one more process, the last, which posts in it; smaller rooms are laid out as without
    it, and a mix with no such room has no extra process."""
    opts = build_parser().parse_args(
        ["--small", "4x5", "--medium", "2x100", "--hot", "1x1000", "--posters", "50"]
    )
    shares, _ = plan(opts, 2)
    assert len(shares) == 3
    assert sorted(shares[2]) == [["pf-hot-0", "hot", 0, 50]]
    hot = sorted((s[2], s[3]) for share in shares[:2] for s in share if s[1] == "hot")
    assert hot == [(50, 475), (525, 475)]
    # 100 viewers over 2 processes is not more than 50 each: both halves as before
    medium = sorted((s[2], s[3]) for share in shares[:2] for s in share if s[0] == "pf-medium-0")
    assert medium == [(0, 50), (50, 50)]
    assert sum(s[3] for share in shares for s in share) == 4 * 5 + 2 * 100 + 1000
    quiet = build_parser().parse_args(["--small", "4x5", "--medium", "0x0", "--hot", "1x90"])
    assert len(plan(quiet, 2)[0]) == 2


def test_posters_must_be_able_to_carry_the_rooms_rate() -> None:
    """Each poster is a user the server lets post once a second by default: 10 posters cannot
    carry a hot room's 20 a second, unless the server's limit is raised; a room not posted apart
    (too few viewers) and ``--posters 0`` are not held to it. A room of fewer than two viewers
    per process is never posted apart."""

    def refusal(*args: str) -> str | None:
        return too_few_posters(build_parser().parse_args(list(args)))

    assert refusal("--posters", "10") is not None and "20" in str(refusal("--posters", "10"))
    assert refusal("--posters", "10", "--server-setting", "user_comment_limit=30") is None
    assert refusal("--posters", "20") is None
    assert refusal("--posters", "10", "--hot", "1x20", "--medium", "0x0") is None
    assert refusal("--posters", "0") is None
    opts = build_parser().parse_args(["--small", "0x0", "--medium", "0x0", "--hot", "1x3"])
    opts.posters = 1
    assert len(plan(opts, 2)[0]) == 2


def test_rooms_post_at_their_rate_without_coming_due_together() -> None:
    """2,000 rooms at 0.2 comments a second, asked every 10 ms for 5 s: each posts once,
    spread over the period instead of all in one step (which measured a burst's latency)."""
    pacer = Pacer([0.2] * 2000, random.Random(0), start=100.0)
    steps = [pacer.due(100.0 + 0.01 * (n + 1)) for n in range(500)]
    posted = sorted(i for step in steps for i in step)
    assert posted == list(range(2000))
    # about 4 a step on average; never a pile-up
    assert max(len(step) for step in steps) <= 20
    assert sum(1 for step in steps if step) > 400
    # a room owing more than one comment by the time it is asked posts each of them
    fast = Pacer([250.0], random.Random(0), start=0.0)
    first = len(fast.due(0.01))
    assert first in (2, 3)
    assert first + sum(len(fast.due(0.01 * (n + 2))) for n in range(99)) in (249, 250)


def test_a_room_comes_due_on_its_own_schedule() -> None:
    """A room at 20 a second is due every 50 ms exactly from its phase, however late or often
    the poster asks; ``next_at`` names the next due time; a room at rate 0 never posts."""
    pacer = Pacer([20.0, 0.0], random.Random(3), start=10.0)
    first = pacer.next_at()
    assert first is not None and 10.0 < first <= 10.05
    assert pacer.due(first - 1e-6) == []
    assert pacer.due(first) == [0]
    assert pacer.next_at() == pytest.approx(first + 0.05)
    # asked late: each comment it owes, once, and the schedule keeps its grid
    assert pacer.due(first + 0.16) == [0, 0, 0]
    assert pacer.next_at() == pytest.approx(first + 0.2)
    assert Pacer([0.0], random.Random(0), start=0.0).next_at() is None


def test_the_idle_share_is_read_from_the_machines_cpu_times() -> None:
    """Idle and iowait over everything spent, guests left out (the kernel counts them in user)."""
    fields = ("user", "nice", "system", "idle", "iowait", "guest")
    Times = namedtuple("Times", fields)  # psutil.cpu_times() gives a namedtuple too
    before = Times(10.0, 0.0, 5.0, 100.0, 1.0, 2.0)
    after = Times(13.0, 0.0, 6.0, 103.0, 2.0, 3.0)  # 4 busy, 4 idle, 1 of the busy a guest's
    assert idle_share(before, after) == 0.5
    assert idle_share(before, before) == 0.0


@pytest.mark.parametrize(
    ("across", "clients"),
    [(False, "python"), (True, "python"), (True, "native")],
    ids=["loopback", "netns", "native-netns"],
)
def test_a_small_mix_loses_and_repeats_nothing(tmp_path: Path, across: bool, clients: str) -> None:
    """120 rooms of three classes, comments in each, on 2 processes sharing Redis: every
    viewer gets every comment of its room once; the node figures are reported. With
    ``--netns`` the client processes sit in a namespace of their own, and the traffic
    crosses the veth pair. With ``--cpu-samples`` each worker's Python stacks over the traffic
    are sampled by CPU time, and summed by activity. ``--clients native`` runs the viewers in
    the compiled client processes (``loadtest/viewers.c``), which enter the namespace
    themselves."""
    if across and netns.missing():
        pytest.skip(netns.missing())
    out = tmp_path / "platform.json"
    command = [
        sys.executable, "-m", "loadtest", "platform",
        "--small", "100x3", "--medium", "4x40", "--hot", "1x300",
        "--small-rate", "0.5", "--medium-rate", "3", "--hot-rate", "10",
        "--duration", "3", "--processes", "2", "--json", str(out),
        "--cpu-samples", str(tmp_path / "cpu"), "--clients", clients,
        *(["--netns"] if across else []),
    ]  # fmt: skip
    env = {**os.environ, "LIVEROOM_NATIVE_CACHE": str(tmp_path / "native")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=scaled(180), env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    s = orjson.loads(out.read_bytes())
    assert s["connections"] == 100 * 3 + 4 * 40 + 300 == s["snapshots"]
    assert s["clients"] == clients
    for kind in ("small", "medium", "hot"):
        c = s["classes"][kind]
        assert c["comments"] > 0, (kind, c)
        assert c["lost"] == 0 and c["duplicated"] == 0, (kind, c)
        assert c["delivered"] == c["expected"] > 0, (kind, c)
        assert c["latency_ms"]["max"] > 0
        # a frame carries at least one event: as many frames as events, or fewer
        assert c["events_per_frame"] == round(c["delivered"] / c["frames"], 4) >= 1, (kind, c)
    assert s["cpu_us_per_frame"] > 0 and s["kb_per_connection"] > 0
    events = sum(c["delivered"] for c in s["classes"].values())
    assert abs(s["cpu_us_per_event"] - s["server_cpu_s"] / events * 1e6) <= 0.01, s
    assert 0 < s["system_us_per_frame"] <= s["cpu_us_per_frame"], s
    assert s["pulse_ms_busy"] and s["redis_commands_per_s"] > 0
    # the two workers, not their supervisor (uvicorn's own handlers take its signals)
    assert len(s["cpu_samples"]) == 2, s["cpu_samples"]
    assert set(s["cpu_samples"]) < {str(n["pid"]) for n in s["nodes"]}, (
        s["cpu_samples"],
        s["nodes"],
    )
    for pid, sampled in s["cpu_samples"].items():
        assert sampled["cpu_s"] > 0 and (tmp_path / "cpu" / f"cpu-{pid}.txt").exists()
        # the activities hold all the samples (a run this short takes too few of them to say
        # which activities: tests/loadtest/test_cpusamples.py checks the attribution)
        listed = sum(sampled["ms_per_s"].values()) * s["duration_s"] / 1000
        assert abs(listed - sampled["cpu_s"]) < 0.01 + 0.05 * sampled["cpu_s"], sampled
    # the load generator's own CPU and the machine's idle share over the traffic
    assert len(s["client_cpu_share"]) == s["client_procs"], s
    assert all(0 < share <= 2 for share in s["client_cpu_share"]), s
    assert 0 <= s["machine_idle_share"] <= 1, s
    # each node's own counters over the traffic, by its node id: both nodes wrote frames,
    # together most of those the viewers counted (the last ones go out after the traffic,
    # while the viewers drain; the nodes also count frames of online counts alone)
    counted = s["node_counters"]
    assert len(counted["nodes"]) == 2, counted
    assert all(node["frames_out"] > 0 for node in counted["nodes"].values()), counted
    frames = sum(c["frames"] for c in s["classes"].values())
    assert counted["total"]["frames_out"] > 0.8 * frames, (counted, frames)
    # the nodes' part of the comments' latency: a count per frame written of the frames looked
    # at (a room's, every 0.25 s at most), so some of the frames, never more than went out
    delay = s["server_comment_delay"]
    assert 0 < delay["frames"] <= counted["total"]["frames_out"], (delay, frames)
    assert 0 < delay["p50_ms_at_most"] <= delay["p99_ms_at_most"], delay
    # how long each node's main thread waited for a core over the traffic: the nodes share
    # the machine with the load generator, so some of their wake-ups waited
    waited = [node["queued_s"] for node in s["nodes"] if node["cpu_s"] > 0]
    assert all(0 <= w <= s["duration_s"] for w in waited) and sum(waited) > 0, s["nodes"]
    assert s["netns"] is across
    if across:  # the frames went over the pair: far more than the 120 rooms' comments
        assert s["netns_sent_bytes"] > 100_000, s


def test_the_nodes_comment_delays_are_summed_over_the_window() -> None:
    """Each node's running bucket counts, after less before, summed over the nodes seen both
    times; p50 and p99 are the first bounds holding half and 99% of the frames (None above the
    last)."""

    def node(*counts: float) -> dict[str, dict[str, float]]:
        return {"comment_delay": dict(zip(("0.05", "0.1", "0.25", "+Inf"), counts, strict=True))}

    before = {"a": node(10, 10, 10, 10), "b": node(0, 0, 0, 0)}
    after = {"a": node(60, 90, 100, 100), "b": node(40, 98, 98, 100), "c": node(5, 5, 5, 5)}
    assert comment_delays(before, after) == {
        "frames": 190,  # 90 + 100: node c, seen only after, is left out
        "p50_ms_at_most": 100.0,  # 90 under 50 ms, 178 under 100
        "p99_ms_at_most": None,  # 188 under 250 ms, short of 99% (188.1): above it
    }
    assert comment_delays(before, before)["frames"] == 0
