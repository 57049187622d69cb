"""``python -m loadtest ingest``: many publishers over many rooms, CPU per accepted comment."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest import ingest, netns
from tests.timeouts import scaled


@pytest.mark.parametrize("across", [False, True], ids=["loopback", "netns"])
def test_every_comment_is_accepted_and_reaches_its_room(tmp_path: Path, across: bool) -> None:
    """20 publishers over 10 rooms: every comment sent is accepted, each reaches both
    publishers of its room, and the server's CPU per comment is reported. With ``--netns``
    the publishers sit in a namespace of their own and the traffic crosses the veth pair."""
    if across and netns.missing():
        pytest.skip(netns.missing())
    out = tmp_path / "ingest.json"
    command = [
        sys.executable, "-m", "loadtest", "ingest", "--publishers", "20", "--rooms", "10",
        "--rate", "100", "--duration", "2", "--json", str(out), *(["--netns"] if across else []),
    ]  # fmt: skip
    if not across:  # and where the server's CPU went, by activity
        command += ["--cpu-samples", str(tmp_path / "samples")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=scaled(120))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    s = orjson.loads(out.read_bytes())
    assert s["sent"] > 100 and s["accepted"] == s["sent"] and not s["refused"], s
    assert s["events_seen"] == s["events_expected"] == 2 * s["accepted"], s
    assert s["cpu_us_per_comment"] > 0, s
    # every reply was timed from its send, and came within seconds
    waits = s["reply_ms"]
    assert 0 < waits["p50"] <= waits["p99"] <= waits["max"] < scaled(5) * 1000, s
    assert s["netns"] is across, s
    assert len(s["machine_loop_us"]) == 2 and min(s["machine_loop_us"]) > 0, s
    assert s["python"]["version"] == platform.python_version(), s
    if not across:
        (sampled,) = s["cpu_samples"].values()  # the one server process
        assert sampled["cpu_s"] > 0, s
        # the process's start-up frames are not an activity: its work is named by what it ran
        assert not any("runpy" in name for name in sampled["ms_per_s"]), s
    if across:  # the replies and room frames went over the pair: 3 frames a comment at least
        assert s["netns_sent_bytes"] > 3 * 20 * s["accepted"], s


class _Recorder:
    """A publisher that notes what it was asked to send, and when."""

    def __init__(self, stall: float = 0.0) -> None:
        self.sent: list[tuple[str, float]] = []
        self.stall = stall  # once, on its first send: a client that fell behind

    def send(self, kind: str, **fields: Any) -> None:
        self.sent.append((kind, time.monotonic()))
        if self.stall:
            time.sleep(self.stall)  # holds the loop, as a slow client would
            self.stall = 0.0


@pytest.mark.parametrize("step", [0.001, 0.01])
async def test_the_pacer_keeps_the_rate_by_the_clock(step: float) -> None:
    """Every comment and like of the rate goes out, none before its time and none long after
    it, round-robin, even after the loop was held up for longer than many steps."""
    pubs: list[Any] = [_Recorder(stall=0.05), _Recorder(), _Recorder()]
    start = time.monotonic()
    await ingest.pace(pubs, 2000, 100, 0.3, step)
    comments = sorted(t for p in pubs for kind, t in p.sent if kind == "comment")
    likes = sorted(t for p in pubs for kind, t in p.sent if kind == "like")
    assert len(comments) == 600 and len(likes) == 30
    assert [sum(kind == "comment" for kind, _ in p.sent) for p in pubs] == [200, 200, 200]
    assert all(at >= start + n / 2000 for n, at in enumerate(comments, 1))
    # late by the stall at most, and a few steps: a pacer that fell behind and sent the rest
    # at the end would be late by up to the whole duration
    late = max(at - (start + n / 2000) for n, at in enumerate(comments, 1))
    assert late < 0.05 + scaled(0.1), late
    assert all(at >= start + n / 100 for n, at in enumerate(likes, 1))


def test_runs_give_each_result_and_their_summary(tmp_path: Path) -> None:
    """``--runs 2``: two whole runs, each with its own server, every comment of each accepted
    and seen, and a summary whose figures are the runs' own."""
    out = tmp_path / "runs.json"
    command = [
        sys.executable, "-m", "loadtest", "ingest", "--publishers", "10", "--rooms", "5",
        "--rate", "50", "--duration", "1", "--idle", "0.5", "--runs", "2", "--bar-us", "1e9",
        "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=scaled(120))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = orjson.loads(out.read_bytes())
    runs, summary = result["runs"], result["runs_summary"]
    assert len(runs) == 2 and summary["runs"] == 2
    for run in runs:
        assert run["sent"] > 0 and run["accepted"] == run["sent"], run
        assert run["events_seen"] == run["events_expected"], run
    figures = [run["cpu_us_per_comment"] for run in runs]
    assert summary["cpu_us_per_comment"] == figures
    assert summary["lowest"] == min(figures) and summary["highest"] == max(figures)
    assert summary["median"] == (figures[0] + figures[1]) / 2
    assert summary["within_bar"] == 2 and summary["bar_us"] == 1e9  # a bar every run is under


def test_the_summary_counts_runs_within_the_bar_and_a_run_with_no_figure_over_it() -> None:
    def run(figure: float | None, loop: float) -> dict[str, Any]:
        return {"cpu_us_per_comment": figure, "machine_loop_us": [loop, loop + 10]}

    summary = ingest.summary([run(55.0, 300), run(61.0, 400), run(None, 350), run(60.0, 320)], 60)
    assert summary["cpu_us_per_comment"] == [55.0, 61.0, None, 60.0]
    assert summary["median"] == 60.0  # of the three figures
    assert (summary["lowest"], summary["highest"]) == (55.0, 61.0)
    assert summary["within_bar"] == 2  # 55 and 60: the bar is "at most"
    assert summary["runs"] == 4
    assert summary["machine_loop_us"] == [300, 410]


def test_runs_must_be_one_or_more() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadtest", "ingest", "--runs", "0"],
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert done.returncode == 2 and "--runs must be 1 or more" in done.stderr
