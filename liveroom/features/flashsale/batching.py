"""``Batcher``, where the flash sale's buys first had it; it is the engine's now
(``liveroom.engine.batching``), shared with group buys."""

from __future__ import annotations

from liveroom.engine.batching import Batcher as Batcher
