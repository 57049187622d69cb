"""``python -m loadtest ingest``: many publishers over many rooms, CPU per accepted comment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from loadtest import netns
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
    assert s["netns"] is across, s
    if not across:
        (sampled,) = s["cpu_samples"].values()  # the one server process
        assert sampled["cpu_s"] > 0, s
        # the process's start-up frames are not an activity: its work is named by what it ran
        assert not any("runpy" in name for name in sampled["ms_per_s"]), s
    if across:  # the replies and room frames went over the pair: 3 frames a comment at least
        assert s["netns_sent_bytes"] > 3 * 20 * s["accepted"], s
