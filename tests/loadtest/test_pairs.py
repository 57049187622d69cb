"""``python -m loadtest.pairs``: the platform mix against its hot room alone, pair by pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest import pairs


def test_the_summary_is_the_median_and_the_pairs_within_the_bar() -> None:
    rows = [
        {
            "ratio": r,
            "mix_us_per_frame": r * 4.0,
            "hot_us_per_frame": 4.0,
            "mix_us_per_event": r * 3.8,
            "hot_us_per_event": 4.0,
            "p99_ms": {"small": p, "hot": 10.0},
            "lost": 0,
            "duplicated": 0,
            "ok": True,
        }
        for r, p in ((1.2, 90.0), (1.4, 120.0), (1.25, 100.0), (1.31, 80.0))
    ]
    s = pairs.summary(rows, 1.3)
    assert s["median_ratio"] == 1.28 and s["within_bar"] == 2 and s["worst_p99_ms"] == 120.0
    rows[1]["ok"] = False
    assert pairs.summary(rows, 1.3)["ok"] is False


def test_the_hour_is_the_median_run_of_each_side_with_an_interval_from_the_pairs() -> None:
    """The hour's ratio is the mix runs' median CPU per frame over the alone runs' median, not
    a median of pair ratios; its interval comes from the pairs resampled, is the same for the
    same pairs, holds the ratio, and is within the bar only when its top is; too few pairs give
    no interval."""
    steady = [
        {
            "mix_us_per_frame": 6.0,
            "hot_us_per_frame": 5.0,
            "mix_us_per_event": 5.5,
            "hot_us_per_event": 5.0,
            "ratio_by_event": 1.1,
        }
    ] * 5
    assert pairs.hour_figure(steady, 1.3) == {
        "mix_us_per_frame": 6.0,
        "alone_us_per_frame": 5.0,
        "ratio": 1.2,
        "ratio_by_event": 1.1,
        "interval": [1.2, 1.2],
        "interval_within_bar": True,
    }
    assert pairs.hour_figure(steady, 1.1)["interval_within_bar"] is False
    runs = [(5.5, 4.5), (5.8, 4.8), (6.0, 4.4), (5.4, 5.1), (5.7, 4.6), (5.9, 4.3), (5.6, 4.7)]
    rows = [
        {
            "mix_us_per_frame": m,
            "hot_us_per_frame": a,
            "mix_us_per_event": m - 0.3,
            "hot_us_per_event": a,
            "ratio_by_event": round((m - 0.3) / a, 3),
        }
        for m, a in runs
    ]
    hour = pairs.hour_figure(rows, 1.3)
    assert hour["mix_us_per_frame"] == 5.7 and hour["alone_us_per_frame"] == 4.6
    assert hour["ratio"] == round(5.7 / 4.6, 3)
    assert hour["ratio_by_event"] == round(5.4 / 4.6, 3)
    low, high = hour["interval"]
    assert low < hour["ratio"] < high, hour
    assert hour["interval_within_bar"] is (high <= 1.3)
    assert pairs.hour_figure(rows, 1.3) == hour
    assert pairs.hour_figure(rows, high)["interval_within_bar"] is True  # the top as shown
    assert pairs.hour_figure(rows, low - 0.01)["interval_within_bar"] is False
    # a pair without the figure by event (an alone run that gave no CPU time) is left out of it
    assert (
        pairs.hour_figure([*rows, {**rows[0], "ratio_by_event": None}], 1.3)["ratio_by_event"]
        == hour["ratio_by_event"]
    )
    assert pairs.hour_figure([{**rows[0], "ratio_by_event": None}], 1.3)["ratio_by_event"] is None
    few = pairs.hour_figure(rows[:4], 1.3)
    assert few["interval"] is None and few["interval_within_bar"] is None and few["ratio"] > 1


@pytest.mark.parametrize("clients", ["python", "native"])
def test_a_small_pair_runs_both_sides_and_checks_them(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clients: str
) -> None:
    """One pair of a tiny mix (10 × 2, 1 × 5, a hot room of 30) and the hot room alone, both on
    2 processes sharing Redis, with either kind of viewers: both runs deliver everything once,
    and the pair's ratio is the two runs' CPU per frame."""
    opts = pairs.build_parser().parse_args(
        [
            "--pairs", "1", "--hot-viewers", "30", "--hot-rate", "5", "--duration", "2",
            "--client-nice", "0", "--connect-timeout", "60", "--redis-url", redis_url,
            "--mix-arg=--small", "--mix-arg=10x2", "--mix-arg=--medium", "--mix-arg=1x5",
            "--clients", clients,
        ]
    )  # fmt: skip
    monkeypatch.setenv("LIVEROOM_NATIVE_CACHE", str(tmp_path / "native"))  # the runs build it
    result = pairs.run(opts)
    assert result["clients"] == clients and result["netns"] is False
    assert len(result["machine_loop_us"]) == 2 and min(result["machine_loop_us"]) > 0
    (row,) = result["pairs"]
    assert row["ok"] and result["ok"], row
    assert row["lost"] == 0 and row["duplicated"] == 0, row
    assert row["ratio"] == round(row["mix_us_per_frame"] / row["hot_us_per_frame"], 3) > 0
    assert row["ratio_by_event"] == round(row["mix_us_per_event"] / row["hot_us_per_event"], 3)
    # every event of the hot room reached every viewer, in as many frames or fewer
    assert row["hot_events"]["mix"] == row["hot_events"]["alone"] > 0, row
    for side in ("mix", "alone"):
        assert row["hot_frames"][side] <= row["hot_events"][side], row
    assert set(row["p99_ms"]) == {"small", "medium", "hot"}
    assert row["server_p99_ms_at_most"] > 0, row  # the nodes' own part of it
    assert row["hot_frames"]["mix"] > 0 and row["hot_frames"]["alone"] > 0, row
    assert result["median_ratio"] == row["ratio"] == result["hour"]["ratio"]
    assert result["hour"]["interval"] is None  # one pair: no interval


def test_both_runs_share_the_servers_and_the_mix_takes_its_own_flags(tmp_path: Path) -> None:
    """Both commands name the same processes, engine, Redis, duration, priority and namespace;
    the hot room alone is the mix's scenario with the other classes left out (its viewers, its
    rate, its one poster); ``--mix-arg`` reaches the mix only."""
    opts = pairs.build_parser().parse_args(
        ["--processes", "3", "--hot-viewers", "700", "--hot-rate", "7", "--netns",
         "--redis-url", "redis://127.0.0.1:1/2", "--mix-arg=--small", "--mix-arg=9x2",
         "--posters", "30", "--clients", "native"]
    )  # fmt: skip
    mix, hot = pairs.commands(opts, tmp_path / "m.json", tmp_path / "h.json")
    for command in (mix, hot):
        flags = dict(zip(command, command[1:], strict=False))
        assert flags["--clients"] == "native"
        assert flags["--processes"] == "3" and flags["--redis-url"] == "redis://127.0.0.1:1/2"
        assert flags["--posters"] == "30"
        assert "--netns" in command
        assert command[3] == "platform"
    assert ["--hot", "1x700", "--hot-rate", "7.0"] == mix[-8:-4]
    assert "9x2" in mix and "9x2" not in hot
    assert ["--small", "0x0", "--medium", "0x0", "--hot", "1x700", "--hot-rate", "7.0"] == hot[
        -10:-2
    ]


def test_the_fanout_scenario_can_still_run_the_hot_room_alone(tmp_path: Path) -> None:
    """``--alone fanout``: the hot room alone as up to session 37 (``fanout --spawn``)."""
    opts = pairs.build_parser().parse_args(["--hot-viewers", "700", "--alone", "fanout"])
    _, hot = pairs.commands(opts, tmp_path / "m.json", tmp_path / "h.json")
    assert hot[3:5] == ["fanout", "--spawn"]
    assert ["--viewers", "700", "--rate", "20.0"] == hot[-6:-2]
    # fanout's clients are Python: native ones are refused, not quietly left out
    assert pairs.main(["--alone", "fanout", "--clients", "native"]) == 2
