"""A clock the test moves by hand, for code that takes its clock as a callable."""

from __future__ import annotations


class SteppedClock:
    """Reads ``now`` (seconds) until the test moves it: ``clock.now += 5``."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
