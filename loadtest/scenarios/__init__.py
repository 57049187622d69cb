"""The scenarios: each is ``async def run(r: Run) -> dict`` returning the run's summary."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from loadtest.run import Run
from loadtest.scenarios import fanout, flashsale, groupbuy, join, luckybag, soak

Scenario = Callable[[Run], Awaitable[dict[str, Any]]]

SCENARIOS: dict[str, Scenario] = {
    "fanout": fanout.run,
    "join": join.run,
    "flashsale": flashsale.run,
    "groupbuy": groupbuy.run,
    "luckybag": luckybag.run,
    "soak": soak.run,
}
