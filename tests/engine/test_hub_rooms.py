"""The hub's local rooms: a viewer joining a room the idle pulse just dropped still gets events."""

from __future__ import annotations

import time

from liveroom.engine.memory import MemoryEngine
from liveroom.hub import Hub, Viewer
from liveroom.protocol import room_event_body
from tests.conftest import make_settings
from tests.timeouts import eventually


class Wire:
    """A transport stand-in that keeps what the hub writes (no Redis or engine involved)."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.out = self

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def send(self, payload: bytes) -> None:
        self.data.append(payload)

    def close(self, code: int, reason: str = "") -> None:
        pass


async def test_join_after_the_idle_drop_still_receives() -> None:
    """The pulse drops an idle room while a viewer gets its snapshot; the join revives it."""
    engine = MemoryEngine(make_settings())
    await engine.open()
    hub = Hub(engine, make_settings())
    room = await hub.room("r1")  # handed to a joining session
    room.idle_since = time.monotonic() - 60  # its last viewer left long ago
    await hub._pulse(room)  # the pulse drops it while the session awaits its snapshot
    assert "r1" not in hub.rooms
    wire = Wire()
    viewer = Viewer(wire, "u1")
    joined = hub.join(room, viewer, await engine.head("r1"))
    assert hub.rooms["r1"] is joined
    await eventually(lambda: engine._handlers.get("r1") is not None)
    await engine.publish("r1", room_event_body("comment", text="still here"))
    hub.flush_all()
    assert any(b"still here" in data for data in wire.data)
    await engine.close()
