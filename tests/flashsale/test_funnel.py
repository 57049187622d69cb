"""The funnel's "buy tried" count: each user once per room, and nothing lost when Redis blips."""

from __future__ import annotations

from typing import Any

import pytest

from liveroom.engine.memory import MemoryEngine
from liveroom.errors import EngineUnavailable
from liveroom.features.flashsale import FlashSale, sale_store
from liveroom.features.flashsale.settings import SaleSettings
from tests.conftest import make_settings


class BlipsOnce(MemoryEngine):
    """The memory engine, unavailable for the first ``incr_unique`` of room ``r2``."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.blipped = False

    async def incr_unique(self, room: str, name: str, *members: str, count_as: str = "") -> int:
        if room == "r2" and not self.blipped:
            self.blipped = True
            raise EngineUnavailable("redis is restarting")
        return await super().incr_unique(room, name, *members, count_as=count_as)


async def test_rooms_not_counted_wait_for_the_next_round() -> None:
    """A failed count keeps the rooms it did not reach; the next round counts each user once."""
    settings = make_settings()
    engine = BlipsOnce(settings)
    await engine.open()
    sales = FlashSale(engine, sale_store(engine), SaleSettings.of(settings), engine.clock)
    sales._tried = {"r1": {"a", "b"}, "r2": {"c"}, "r3": {"d"}}
    with pytest.raises(EngineUnavailable):
        await sales.count_tries()
    assert (await engine.counters("r1"))["buy_tried"] == 2
    assert sales._tried == {"r2": {"c"}, "r3": {"d"}}
    sales._tried["r1"] = {"a", "e"}  # a tried again, e is new
    await sales.count_tries()
    assert sales._tried == {}
    assert [(await engine.counters(r)).get("buy_tried") for r in ("r1", "r2", "r3")] == [3, 1, 1]
    await engine.close()
