"""``flashsale``: B buyers race for S units. Built against ``liveroom.features.flashsale``."""

from __future__ import annotations

from typing import Any

from loadtest.run import Run
from loadtest.server import SetupError


async def run(r: Run) -> dict[str, Any]:
    raise SetupError("feature not available: the flash sale (liveroom.features.flashsale)")
