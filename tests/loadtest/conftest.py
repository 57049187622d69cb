"""Run the harness as a user would: ``python -m loadtest ... --spawn --json FILE``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.timeouts import scaled

Harness = Callable[..., tuple[int, dict[str, Any], str]]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    """``harness("fanout", "--viewers", "300", ...)`` → (exit status, JSON summary, output)."""

    def run(scenario: str, *args: str, timeout: float = 60.0) -> tuple[int, dict[str, Any], str]:
        out = tmp_path / f"{scenario}.json"
        command = [
            sys.executable,
            "-m",
            "loadtest",
            scenario,
            "--spawn",
            "--quiet",
            "--client-procs",
            "2",
            "--json",
            str(out),
            *args,
        ]
        proc = subprocess.run(command, capture_output=True, timeout=scaled(timeout), check=False)
        text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
        summary = orjson.loads(out.read_bytes()) if out.exists() else {}
        return proc.returncode, summary, text

    return run


@pytest.fixture
def native_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled client (``loadtest.native``) built once per test session, into its temp
    directory, not the user's cache."""
    monkeypatch.setenv("LIVEROOM_NATIVE_CACHE", str(tmp_path_factory.getbasetemp() / "native"))
