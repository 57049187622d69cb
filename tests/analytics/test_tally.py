"""The tally's per-minute counts: each count lands in the minute of its millisecond."""

from __future__ import annotations

from liveroom.features.analytics.tally import Tally


def test_counts_near_a_minute_edge_land_in_the_minute_of_their_millisecond() -> None:
    """A clock reading that rounds up to the next minute counts there; the minute's key is
    worked out again whenever the clock leaves the minute, backwards too."""
    now = [60.0]
    tally = Tally(lambda: now[0])
    for reading in (60.0, 90.0, 119.9994, 119.9996, 150.0, 100.0, 179.9):
        now[0] = reading
        tally.commented("r1", "u1")
    counts = tally.rooms["r1"].pending.counts
    assert counts["comments"] == 7
    assert counts["m:60:comments"] == 4  # 60, 90, 119.9994 (119.999), 100 (the clock went back)
    assert counts["m:120:comments"] == 3  # 119.9996 (120.000), 150, 179.9


def test_a_quiet_room_is_written_once_a_heartbeat_and_a_busy_one_every_pulse() -> None:
    """``drain(heartbeat_s)``: a room with viewers and nothing new comes out once every
    ``heartbeat_s`` (its intervals' heartbeat); a room with something new comes out at once; a
    room left by its last viewer comes out with the close, then is forgotten."""
    now = [1000.0]
    tally = Tally(lambda: now[0])
    tally.joined("quiet", "u1", "", ())
    tally.joined("busy", "u2", "", ())
    rooms = lambda: sorted(batch.room for batch in tally.drain(2.0))  # noqa: E731
    assert rooms() == ["busy", "quiet"]  # the joins are news
    now[0] += 1.0
    assert rooms() == []
    tally.commented("busy", "u2")
    assert rooms() == ["busy"]
    now[0] += 1.0  # 2 s since quiet's last write, 1 s since busy's
    assert rooms() == ["quiet"]
    now[0] += 0.5
    tally.left("quiet", "u1")
    (closing,) = tally.drain(2.0)
    assert closing.room == "quiet" and [c[0] for c in closing.closed] == ["u1"]
    assert "quiet" not in tally.rooms
    now[0] += 5.0
    assert rooms() == ["busy"]
