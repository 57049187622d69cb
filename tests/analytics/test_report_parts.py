"""The report's building blocks on their own: interval unions, card pins, and when an open
interval's node was last seen."""

from __future__ import annotations

from liveroom.features.analytics.report import (
    QUIET_WRITE_S,
    build,
    pins_of,
    profile_of,
    segments,
    union,
)
from liveroom.features.analytics.store import RoomData


def test_union_merges_tabs_and_keeps_reconnection_gaps() -> None:
    """Overlapping and touching intervals merge; a gap stays a gap; an open end stays open."""
    assert union([(30, 130, False), (40, 400, False)]) == [(30, 400, False)]
    assert union([(20, 200, False), (260, 800, False)]) == [(20, 200, False), (260, 800, False)]
    assert union([(0, 10, False), (10, 20, False)]) == [(0, 20, False)]
    assert union([(5, 50, True), (0, 30, False)]) == [(0, 50, True)]


def test_pins_follow_board_versions_not_arrival() -> None:
    """Boards written out of order (two nodes) give the pins of their version order."""
    boards = {3: (300.0, ["cup"]), 1: (0.0, ["tea"]), 2: (120.0, ["cup", "tea"])}
    assert sorted(pins_of(boards, now=900.0)) == [("cup", 120.0, 900.0), ("tea", 0.0, 300.0)]
    repinned = {1: (0.0, ["tea"]), 2: (60.0, []), 3: (90.0, ["tea"])}
    assert sorted(pins_of(repinned, now=100.0)) == [("tea", 0.0, 60.0), ("tea", 90.0, 100.0)]


def test_a_viewer_counts_once_per_minute_across_a_reconnection() -> None:
    """Two segments of one user in one minute: one viewer in it, two entries, one exit there."""
    data = RoomData(users={"u": (10.0, profile_of("feed", {}, None))})
    data.intervals = {"u": [(10.0, 30.0), (40.0, 130.0)]}
    report = build("r", data, now=200.0, k=10, stale_s=6, ended=True)
    by_minute = {row["minute"]: row for row in report["minutes"]}
    assert [by_minute[m]["viewers"] for m in (0, 60, 120)] == [1, 1, 1]
    assert (by_minute[0]["entries"], by_minute[0]["exits"]) == (2, 1)
    assert by_minute[120]["exits"] == 1
    assert report["watch"]["total_s"] == 110.0


def test_a_quiet_room_stays_live_by_its_node_beat_and_ends_where_the_node_stopped() -> None:
    """A node writes a quiet room every ``QUIET_WRITE_S`` and beats every pulse: the room's
    open interval is live while the node beats, however long since the room's last write
    within that cadence; it ends at the last beat once the node stops (a crash), and at the
    room's last write when the node beats on but stopped writing the room without closing it.
    """
    stale = 6.0
    data = RoomData(users={"u": (100.0, profile_of("feed", {}, None))})
    data.open = [("A", "u", 100.0)]
    data.nodes = {"A": 110.0}  # the room's last write: 20 s before the last beat
    data.beats = {"A": 130.0}
    assert segments(data, now=133.0, stale_s=stale) == {"u": [(100.0, 133.0, True)]}
    # no beat for 30 s: the node died, its viewer's interval ends at its last beat
    assert segments(data, now=160.0, stale_s=stale) == {"u": [(100.0, 130.0, False)]}
    # no beat kept at all (an older node): the room's last write, as before beats
    data.beats = {}
    assert segments(data, now=113.0, stale_s=stale) == {"u": [(100.0, 113.0, True)]}
    assert segments(data, now=133.0, stale_s=stale) == {"u": [(100.0, 110.0, False)]}
    # beating on, but the room not written for longer than its quiet cadence allows
    late = 110.0 + QUIET_WRITE_S + stale + 1.0
    data.beats = {"A": late}
    assert segments(data, now=late + 1.0, stale_s=stale) == {"u": [(100.0, 110.0, False)]}
    data.beats = {"A": late - 2.0}  # the last beat the quiet cadence allows: live
    assert segments(data, now=late - 1.0, stale_s=stale) == {"u": [(100.0, late - 1.0, True)]}
