"""History replays (``liveroom.replay``): bounded pieces, in order, a bounded number at once."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from liveroom.engine.base import History
from liveroom.engine.memory import MemoryEngine
from liveroom.localroom import CATCHUP_CHUNK, Viewer
from liveroom.protocol import room_event_body
from liveroom.replay import Replays
from tests.conftest import make_settings


class Recorder:
    """A viewer's connection that keeps the frames it is sent."""

    out: Any = None

    def __init__(self) -> None:
        self.frames: list[list[dict[str, Any]]] = []

    def send(self, payload: bytes) -> None:
        self.frames.append(orjson.loads(payload))

    def close(self, code: int, reason: str = "") -> None: ...

    def forget(self) -> None: ...


class CountingEngine(MemoryEngine):
    """The memory engine, counting the history reads in flight (each yields once)."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.reading = 0
        self.most = 0
        self.pages = 0

    async def history_page(self, room: str, after: int, count: int, epoch: str) -> History:
        self.reading += 1
        self.most = max(self.most, self.reading)
        self.pages += 1
        try:
            await asyncio.sleep(0)
            return await super().history_page(room, after, count, epoch)
        finally:
            self.reading -= 1


async def _engine(events: int) -> CountingEngine:
    engine = CountingEngine(make_settings(history_len=5000))
    for n in range(events):
        await engine.publish("r", room_event_body("system", text=f"m{n}"))
    return engine


async def test_a_long_replay_goes_out_in_pieces_in_order() -> None:
    """1,000 missed events: one history read and one frame per 200, every offset once, in
    order; the viewer ends holding the head."""
    engine = await _engine(1030)
    recorder = Recorder()
    viewer = Viewer(recorder, "u1")
    viewer.offset, viewer.epoch = 30, (await engine.head("r")).epoch
    replay = await Replays(engine, reads=4).replay("r", viewer)
    assert replay.complete and replay.sent == 1000 and viewer.offset == 1030
    assert [len(f) for f in recorder.frames] == [CATCHUP_CHUNK] * 5
    offsets = [e["offset"] for f in recorder.frames for e in f]
    assert offsets == list(range(31, 1031))
    assert engine.pages == 5


async def test_at_most_reads_replays_read_history_at_once() -> None:
    """Twenty viewers resuming at once: never more than ``reads`` history reads in flight, and
    every one of them gets all it missed."""
    engine = await _engine(600)
    replays = Replays(engine, reads=3)
    viewers = []
    for n in range(20):
        viewer = Viewer(Recorder(), f"u{n}")
        viewer.offset, viewer.epoch = n, (await engine.head("r")).epoch
        viewers.append(viewer)
    results = await asyncio.gather(*(replays.replay("r", v) for v in viewers))
    assert all(r.complete for r in results)
    assert all(v.offset == 600 for v in viewers)
    assert engine.most == 3


async def test_a_replay_history_cannot_serve_is_incomplete_and_sends_nothing() -> None:
    """From before the trimmed history, or from the future: incomplete, nothing sent."""
    engine = CountingEngine(make_settings(history_len=50))
    for n in range(80):
        await engine.publish("r", room_event_body("system", text=f"m{n}"))
    for start in (3, 200):
        recorder = Recorder()
        viewer = Viewer(recorder, "u1")
        viewer.offset, viewer.epoch = start, (await engine.head("r")).epoch
        replay = await Replays(engine, reads=1).replay("r", viewer)
        assert not replay.complete and replay.sent == 0 and recorder.frames == []
    # an offset of another epoch: incomplete too, whatever its number
    recorder = Recorder()
    viewer = Viewer(recorder, "u1")
    viewer.offset, viewer.epoch = 60, "another"
    replay = await Replays(engine, reads=1).replay("r", viewer)
    assert not replay.complete and replay.sent == 0 and recorder.frames == []
    assert replay.epoch == (await engine.head("r")).epoch
