"""Each scenario, small, against a spawned server: the correctness figures of its JSON summary."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from loadtest import netns
from loadtest.server import CGROUP_V1_CPU, CGROUP_V2
from tests.loadtest.conftest import Harness
from tests.processes import free_port
from tests.servers import API_KEY, SECRET, ServerProcess
from tests.timeouts import scaled

KEYS = {
    "scenario",
    "viewers",
    "sent",
    "expected",
    "delivered",
    "lost",
    "duplicated",
    "latency_ms",
    "frames_per_s",
    "server_cpu_us_per_frame",
    "server_rss_mb",
    "kb_per_conn",
    "errors",
}


def test_fanout_delivers_every_event_once(harness: Harness, tmp_path: Path) -> None:
    """300 viewers, 60 comments/s over a 40/s cap: every unshed comment reaches everyone once."""
    page = tmp_path / "fanout.html"
    code, s, text = harness(
        "fanout", "--viewers", "300", "--rate", "60", "--duration", "2", "--html", str(page)
    )
    assert code == 0, text
    assert KEYS <= s.keys()
    assert set(s["latency_ms"]) >= {"p50", "p90", "p99", "p999", "max"}
    assert s["viewers"] == 300 and s["errors"] == 0
    assert s["lost"] == 0 and s["duplicated"] == 0
    accepted = s["answers"].get("comment:ok", 0)
    assert accepted > 0 and s["shed"] > 0
    assert accepted + s["answers"].get("comment:shed", 0) == s["sent"]
    assert s["shed"] == s["answers"].get("comment:shed", 0)
    assert s["expected"] == s["delivered"] == (accepted + 1) * 300  # + the end sentinel
    assert s["ok"] is True
    body = page.read_text()
    assert "<svg" in body
    assert "http" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_join_storm_gives_every_viewer_a_snapshot(harness: Harness) -> None:
    """500 viewers connecting at once each get a snapshot, with no connection errors."""
    code, s, text = harness("join", "--viewers", "500")
    assert code == 0, text
    assert s["expected"] == s["delivered"] == s["snapshots"] == 500
    assert s["lost"] == 0 and s["errors"] == 0
    assert s["latency_ms"]["count"] == 500


def test_soak_resumes_without_loss(harness: Harness) -> None:
    """Comments, likes and reconnects with resume: nothing lost or repeated across resumes."""
    args = "--viewers 200 --rate 15 --duration 3 --churn-rate 5 --like-rate 20".split()
    code, s, text = harness("soak", *args)
    assert code == 0, text
    assert s["reconnects"] > 0
    assert s["lost"] == 0 and s["duplicated"] == 0 and s["errors"] == 0
    assert s["expected"] == s["delivered"] > 0
    assert s["rss_series"] and s["server_rss_mb"] > 0


def test_flashsale_never_oversells(harness: Harness) -> None:
    """400 buyers, two tries each, race for 50 units: exactly 50 reserved, nobody over limit."""
    code, s, text = harness("flashsale", "--buyers", "400", "--stock", "50", "--limit", "1")
    assert code == 0, text
    assert s["stock"] == 50 and s["reserved"] == 50 and s["granted"] == 50
    assert s["oversold"] == 0 and s["undersold"] == 0 and s["limit_violations"] == 0
    assert s["buy_answers"]["ok"] == 50
    assert s["attempts"] == 800 and s["unanswered"] == 0
    assert s["audit"]["ok"] is True
    assert s["lost"] == 0 and s["duplicated"] == 0


def test_groupbuy_race_forms_or_fails_every_group(harness: Harness) -> None:
    """600 buyers, 60 units, groups of 3: every group formed or failed, the audit balanced."""
    code, s, text = harness("groupbuy", "--buyers", "600", "--stock", "60", "--fill-s", "0.5")
    assert code == 0, text
    assert s["audit"]["ok"] is True and s["audit"]["groups"]["open"] == 0
    assert s["reserved"] == 3 * s["groups_formed"] and s["groups_formed"] > 0
    assert sum(s["answers"].values()) == 600 and s["latency_ms"]["count"] == 600
    assert s["places_per_s"] > 0 and s["failures"] == []


def test_luckybag_draws_exactly_once_and_verifies(harness: Harness) -> None:
    """300 viewers join a 2-second bag: one draw seen by all, winners recomputed from the seed."""
    code, s, text = harness("luckybag", "--viewers", "300", "--duration", "2", "--winners", "5")
    assert code == 0, text
    assert s["participants"] == s["joins_accepted"] == 300
    assert s["winners"] == s["winners_told"] == 5
    assert s["drawn_events"] == 300
    assert s["exactly_once"] is True and s["verified"] is True
    assert s["lost"] == 0 and s["duplicated"] == 0


def test_fanout_over_two_cpu_capped_processes_delivers_everything(harness: Harness) -> None:
    """Two Redis-backed server processes, each in a CPU cgroup: nothing lost, groups removed."""
    if not os.access(CGROUP_V1_CPU if CGROUP_V1_CPU.exists() else CGROUP_V2, os.W_OK):
        pytest.skip("no writable cgroup cpu controller on this machine")
    code, s, text = harness(
        "fanout", "--engine", "redis", "--processes", "2", "--server-cpu-quota", "0.5",
        "--viewers", "200", "--rate", "30", "--duration", "2",
    )  # fmt: skip
    assert code == 0, text
    assert s["processes"] == 2 and s["errors"] == 0
    assert s["lost"] == 0 and s["duplicated"] == 0 and s["expected"] == s["delivered"] > 0
    root = CGROUP_V1_CPU if CGROUP_V1_CPU.exists() else CGROUP_V2
    assert not list(root.glob("loadtest-*")), "cgroups left behind"


def _namespaces() -> set[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in done.stdout.splitlines() if line.strip()}


def _links() -> str:
    return subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout


def test_fanout_with_viewers_in_their_own_namespace(harness: Harness) -> None:
    """--netns: viewers connect over a veth pair from a namespace of their own; a Redis-backed
    server delivers every event once; namespace and pair are gone afterwards."""
    if netns.missing():
        pytest.skip(netns.missing())
    # each look at the namespaces while none is being made or removed: a test on the other
    # worker (the platform mix's --netns) may hold one meanwhile, but not across a look
    with netns.network_steady():
        before = _namespaces()
    code, s, text = harness(
        "fanout", "--netns", "--engine", "redis",
        "--viewers", "200", "--rate", "30", "--duration", "2",
    )  # fmt: skip
    assert code == 0, text
    assert "own network namespace" in text
    assert s["netns"] is True and s["errors"] == 0 and s["netns_napi"] == "idle"
    # the frames crossed the pair: 200 viewers, each some kB of frames and a snapshot
    assert s["netns_sent_bytes"] > 200 * 1000, s["netns_sent_bytes"]
    assert s["lost"] == 0 and s["duplicated"] == 0 and s["expected"] == s["delivered"] > 0
    assert s["server_cpu_us_per_frame"] > 0
    with netns.network_steady():
        after, links = _namespaces(), _links()
    assert after == before, "namespace left behind"
    assert not re.search(r"^lt[hv][0-9a-f]{6}", links, re.M), "veth pair left behind"


def test_netns_wants_a_spawned_server() -> None:
    """--netns with --url cannot work (the server must listen on the pair): a clear refusal."""
    done = subprocess.run(
        [
            sys.executable, "-m", "loadtest", "fanout", "--netns", "--quiet",
            "--url", "http://127.0.0.1:9", "--secret", "x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--netns works with --spawn" in done.stdout + done.stderr


def _harness(scenario: str, url: str, out: Path, *extra: str) -> list[str]:
    """A small run of ``scenario`` against ``url``; ``extra`` options win over these."""
    return [
        sys.executable, "-m", "loadtest", scenario, "--url", url, "--secret", SECRET,
        "--api-key", API_KEY, "--viewers", "20", "--quiet", "--json", str(out), *extra,
    ]  # fmt: skip


def test_a_run_where_nobody_joins_stops_after_connecting(start_server: Any, tmp_path: Path) -> None:
    """Against a server that refuses every viewer (a wrong --secret), a long soak stops after
    its connect phase with exit status 2 and the connection errors, not after its traffic."""
    server = start_server()
    out = tmp_path / "nobody.json"
    wrong = "not-the-server-secret-not-the-server-secret"
    command = _harness("soak", server.url, out, "--secret", wrong, "--duration", "600")
    proc = subprocess.run(command, capture_output=True, timeout=scaled(60), check=False)
    text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    assert proc.returncode == 2, text
    error = orjson.loads(out.read_bytes())["error"]
    assert "none of 20 viewers got a snapshot" in error and "4001" in error, error


def test_a_url_run_waits_for_the_server(servers: list[ServerProcess], tmp_path: Path) -> None:
    """Against --url, the harness waits for the server's /readyz: started before the server, it
    knocks on the port (the test sees the connection), and runs once the server is up."""
    server = ServerProcess()
    out = tmp_path / "late.json"
    with socket.create_server(("127.0.0.1", server.port)) as port:
        port.settimeout(scaled(30))
        proc = subprocess.Popen(
            _harness("join", server.url, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            knock, _ = port.accept()  # the harness asking for /readyz before any server is there
        except BaseException:
            proc.kill()
            raise
        knock.close()
    servers.append(server.start())
    text = proc.communicate(timeout=scaled(60))[0].decode(errors="replace")
    assert proc.returncode == 0, text
    summary = orjson.loads(out.read_bytes())
    assert summary["snapshots"] == 20 and summary["errors"] == 0, summary


def test_a_url_run_without_a_server_says_so(tmp_path: Path) -> None:
    """Nothing on the port: exit status 2 after --connect-timeout, naming the port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    done = subprocess.run(
        _harness("join", url, tmp_path / "none.json", "--connect-timeout", "1"),
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"server on port {port} not ready in 1s" in done.stdout + done.stderr


def test_client_nice_lowers_the_client_processes_priority(harness: Harness) -> None:
    """``--client-nice 3``: each client process reports, once started, a priority 3 below the
    harness's own; without it, the same as the harness."""
    code, s, text = harness("join", "--viewers", "40", "--client-procs", "2", "--client-nice", "3")
    assert code == 0, text
    assert s["client_nice"] == 3 and s["lost"] == 0 and s["viewers"] == 40
    code, s, text = harness("join", "--viewers", "40", "--client-procs", "2")
    assert code == 0, text
    assert s["client_nice"] == 0
