"""``luckybag``: N viewers join a lucky bag and the draw completes exactly once."""

from __future__ import annotations

from typing import Any

from loadtest.run import Run
from loadtest.server import SetupError


async def run(r: Run) -> dict[str, Any]:
    raise SetupError("feature not available: the lucky bag (liveroom.features.luckybag)")
