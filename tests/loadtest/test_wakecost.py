"""``python -m loadtest.wakecost``: every message reaches the bare server, and each rate gives
a CPU figure per message and its wake-ups."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.timeouts import scaled


def test_each_rate_sends_its_messages_and_the_server_reads_them_all(tmp_path: Path) -> None:
    out = tmp_path / "wake.json"
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.wakecost", "--rates", "50,200", "--duration", "1",
         "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=scaled(120),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result == json.loads(done.stdout)
    assert [run["rate"] for run in result["runs"]] == [50.0, 200.0]
    for run in result["runs"]:
        # about rate × duration messages, each one read whole by the server (none lost)
        assert 0.8 * run["rate"] <= run["sent"] <= run["rate"] + 1, run
        assert run["received"] == run["sent"], run
        assert 1 <= run["reads"] <= run["sent"], run
        assert run["us_per_message"] > 0 and run["stat_us_per_message"] >= 0, run
        # the server slept between messages at least now and then: it was woken
        assert run["switches_per_message"] > 0, run


def test_bad_rates_are_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.wakecost", "--rates", "0"],
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert done.returncode == 2 and "--rates" in done.stderr
