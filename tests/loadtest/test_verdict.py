"""The correctness verdict: which figures fail a run."""

from __future__ import annotations

from loadtest.results import verdict


def test_clean_run_passes() -> None:
    """No loss, duplicates, errors or oversell: no failures."""
    assert verdict({"lost": 0, "duplicated": 0, "errors": 0, "oversold": 0}) == []


def test_loss_duplicates_and_oversell_fail() -> None:
    """Each correctness breach is reported on its own line."""
    failures = verdict({"lost": 3, "duplicated": 1, "oversold": 2, "limit_violations": 1})
    assert len(failures) == 4
    assert any("lost" in f for f in failures) and any("oversold" in f for f in failures)


def test_missing_snapshots_fail() -> None:
    """A join where some viewers never got their snapshot fails."""
    assert verdict({"snapshots": 9, "snapshots_expected": 10})
