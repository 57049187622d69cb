"""A stored chat event's ``ts``, read without parsing the event (``protocol.stamp_of``)."""

from __future__ import annotations

from liveroom.protocol import event, room_event_body, stamp_of, with_offset


def test_a_chat_events_stamp_is_read_and_other_events_have_none() -> None:
    """Comments and system messages carry ``ts`` right after their type; an event with a
    ``ts`` elsewhere (inside its data), none at all, or one that is not a number, has none."""
    user = {"id": "u1", "name": "Ann"}
    comment = with_offset(41, room_event_body("comment", ts=1733470000.25, user=user, text="hi"))
    system = with_offset(9, room_event_body("system", ts=1733470001.5, text="hi", by=user))
    assert stamp_of(comment) == 1733470000.25
    assert stamp_of(system) == 1733470001.5
    assert stamp_of(with_offset(5, room_event_body("card", data={"id": 1, "ts": 5}))) is None
    assert stamp_of(with_offset(5, room_event_body("x", ts=3))) is None  # its last field
    assert stamp_of(with_offset(5, room_event_body("x", ts="soon", y=1))) is None
    assert stamp_of(with_offset(5, room_event_body("like", count=3))) is None
    assert stamp_of(event("reply", id="c1", ok=True)) is None
    assert stamp_of(b"not json at all") is None
