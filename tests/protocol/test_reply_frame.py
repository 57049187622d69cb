"""A command's answer, encoded in one step: the same bytes as the event joined into a frame."""

from __future__ import annotations

from liveroom.protocol import frame, reply, reply_frame


def test_reply_frame_is_the_framed_reply_byte_for_byte() -> None:
    """With fields, without, and with a request id that needs escaping."""
    for rid, result in (("c1", {"offset": 7, "masked": True}), ("p", None), ('a"b\\', {})):
        assert reply_frame(rid, result) == frame([reply(rid, **(result or {}))])
