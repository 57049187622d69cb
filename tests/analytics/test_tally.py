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


def test_a_quiet_room_whose_write_failed_is_written_again_at_the_next_drain() -> None:
    """A quiet room's heartbeat write that the store refused goes out again at the next drain,
    not a heartbeat later: a report reads the node's beat against that room's last write
    (``report.last_seen``), so the write may not fall a whole heartbeat behind."""
    now = [1000.0]
    tally = Tally(lambda: now[0])
    tally.joined("quiet", "u1", "", ())
    assert [b.room for b in tally.drain(30.0)] == ["quiet"]  # the join
    now[0] += 30.0
    (beat,) = tally.drain(30.0)  # its heartbeat is due
    tally.restore(beat)  # as after a write Redis refused
    now[0] += 1.0
    assert [b.room for b in tally.drain(30.0)] == ["quiet"]
    now[0] += 1.0
    assert tally.drain(30.0) == []  # written: quiet again for a heartbeat


def test_every_kind_of_change_is_news_for_the_next_drain() -> None:
    """A room's pending batch is drained when anything was added since the last drain, by any
    of the tally's entries (the drain passes over a room nothing touched, by a flag that every
    change sets), and a batch given back after a failed write is drained again."""
    now = [1000.0]
    tally = Tally(lambda: now[0])
    tally.joined("r1", "u1", "", ())
    assert [b.room for b in tally.drain(60.0)] == ["r1"]
    changes = [
        lambda: tally.commented("r1", "u1"),
        lambda: tally.liked("r1", "u1", 3),
        lambda: tally.shared("r1", "u1"),
        lambda: tally.followed("r1", "u1"),
        lambda: tally.cards_shown("r1", 4, ["tea"]),
        lambda: tally.card_clicked("r1", "u1", "tea"),
        lambda: tally.buy_tried("r1", "u1", "tea"),
        lambda: tally.order_reserved("r1", "u1", "tea", 1),
        lambda: tally.order_paid("r1", "u1", "tea", "o1", 1, 100),
        lambda: tally.group_step("r1", "u1", "formed"),
        lambda: tally.joined("r1", "u2", "", ()),
        lambda: tally.left("r1", "u2"),
    ]
    for change in changes:
        now[0] += 1.0
        assert tally.drain(60.0) == []  # quiet: its heartbeat is not due
        change()
        (batch,) = tally.drain(60.0)
        assert not batch.empty()
        tally.restore(batch)  # as after a write Redis refused
        (again,) = tally.drain(60.0)
        assert not again.empty()


def test_a_batch_given_back_adds_to_what_was_counted_since() -> None:
    """A failed write's batch goes back under the counts the room took meanwhile: the next
    batch holds both, added, not the newer ones alone nor the older ones alone."""
    now = [1000.0]
    tally = Tally(lambda: now[0])
    tally.joined("r1", "u1", "", ())
    for _ in range(3):
        tally.commented("r1", "u1")
    tally.liked("r1", "u2", 5)
    (failed,) = tally.drain(60.0)
    tally.commented("r1", "u1")  # while the write was under way
    tally.liked("r1", "u1", 2)
    tally.shared("r1", "u3")
    tally.restore(failed)
    (batch,) = tally.drain(60.0)
    assert batch.counts["comments"] == 4
    assert batch.counts["m:960:comments"] == 4
    assert batch.counts["likes"] == 7
    assert batch.counts["shares"] == 1
    assert batch.marks == {("interacted", "u1"), ("interacted", "u2"), ("interacted", "u3")}


def test_a_guest_is_forgotten_once_gone_and_a_signed_in_viewer_is_not() -> None:
    """An anonymous connection's id is its own: once its last connection leaves, the room no
    longer remembers it (a long show's guests were all kept until the room emptied here). A
    signed-in viewer who leaves is remembered, so a return is not a second newcomer."""
    now = [1000.0]
    tally = Tally(lambda: now[0])
    tally.joined("r1", "anon-1", "", (), guest=True)
    tally.joined("r1", "u1", "", ())
    tally.joined("r1", "u2", "", ())  # stays: the room keeps viewers here
    newcomers = tally.rooms["r1"].pending.newcomers
    assert newcomers["anon-1"].guest and not newcomers["u1"].guest
    tally.drain(0.0)
    tally.left("r1", "anon-1", guest=True)
    tally.left("r1", "u1")
    assert tally.rooms["r1"].seen == {"u1", "u2"}
    tally.joined("r1", "u1", "", ())
    assert "u1" not in tally.rooms["r1"].pending.newcomers
