"""loadtest/memprobe: a process started with it on PYTHONPATH logs its memory figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.timeouts import scaled

PROBE = Path(__file__).resolve().parents[2] / "loadtest" / "memprobe"

# the child waits (on the probe's condition, with a deadline) for three samples, then exits
CHILD = """
import sys, sitecustomize
with sitecustomize.sampled:
    done = sitecustomize.sampled.wait_for(lambda: sitecustomize.samples >= 3, float(sys.argv[1]))
sys.exit(0 if done else 3)
"""


def test_a_probed_process_logs_its_memory(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROBE), env.get("PYTHONPATH", "")])
    env["LOADTEST_MEMPROBE_DIR"] = str(tmp_path / "probe")
    env["LOADTEST_MEMPROBE_EVERY"] = "0.05"
    timeout = scaled(20)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(timeout)], env=env, timeout=timeout + 10, check=False
    )
    assert done.returncode == 0, "the probe did not write three samples in time"
    (log,) = (tmp_path / "probe").glob("probe.*.log")
    lines = log.read_text().splitlines()
    assert lines[0].startswith("argv ['-c'"), lines[0]
    sample = re.compile(
        r"\s*[\d.]+s rss=[\d.]+ anon=[\d.]+ malloc_inuse=[\d.]+ malloc_free=[\d.]+ "
        r"malloc_mapped=[\d.]+ outside_malloc=-?[\d.]+ blocks=\d+$"
    )
    assert all(sample.match(line) for line in lines[1:4]), lines[:4]
    rss = [float(re.search(r"rss=([\d.]+)", line)[1]) for line in lines[1:4]]  # type: ignore[index]
    assert all(value > 1 for value in rss), rss


def test_without_its_variable_the_probe_does_nothing(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROBE), env.get("PYTHONPATH", "")])
    env.pop("LOADTEST_MEMPROBE_DIR", None)
    code = (
        "import sys, threading, sitecustomize\n"
        "print(sitecustomize.__file__)\n"
        "sys.exit(any(t.name == 'memprobe' for t in threading.enumerate()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, timeout=30
    )
    assert done.returncode == 0, "a probe thread started without LOADTEST_MEMPROBE_DIR"
    assert Path(done.stdout.decode().strip()).parent == PROBE  # the probe module was imported
    assert not list(tmp_path.iterdir())
