"""What a feature's caches ask of the node's relay of a room (``Feature.stream_mark``,
``caught_up_now``, ``unmoved``), answered from the node's local room."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from liveroom.features import Feature


def _feature(rooms: dict[str, Any]) -> Feature:
    return Feature(SimpleNamespace(hub=SimpleNamespace(rooms=rooms)))  # type: ignore[arg-type]


def test_a_mark_serves_while_the_room_is_the_same_and_has_caught_up() -> None:
    local = SimpleNamespace(last_offset=10, jumps=0)
    rooms: dict[str, Any] = {"r1": local}
    feature = _feature(rooms)
    mark = feature.stream_mark("r1")
    assert mark == (local, 0)
    assert feature.unmoved("r1", mark, 10) and feature.unmoved("r1", mark, None)
    assert not feature.unmoved("r1", mark, 11), "an event up to the comment is not in yet"
    local.last_offset = None
    assert not feature.unmoved("r1", mark, 1), "a room not yet started has taken nothing in"
    assert feature.unmoved("r1", mark, None)
    local.last_offset = 11
    assert feature.unmoved("r1", mark, 11)
    local.jumps = 1  # the room skipped events it did not relay
    assert not feature.unmoved("r1", mark, 11) and not feature.unmoved("r1", mark, None)
    assert feature.unmoved("r1", feature.stream_mark("r1"), 11)
    rooms["r1"] = SimpleNamespace(last_offset=11, jumps=1)  # dropped and made again
    assert not feature.unmoved("r1", mark, None), "another local room, the same jumps"
    del rooms["r1"]
    assert feature.stream_mark("r1") is None
    # no local room: a mark read without one still serves, but nothing is caught up
    assert feature.unmoved("r1", None, None) and not feature.unmoved("r1", None, 0)
    assert not feature.unmoved("r1", mark, None), "a mark of a room since dropped"
    assert not feature.caught_up_now("r1", 0)
