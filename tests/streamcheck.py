"""The resume contract, checked on what clients received: never a silent gap.

A ``Ledger`` is shared by every viewer of a test. ``Ledger.connection(events, asked)`` walks one
connection's events (``LiveClient.events``) and raises ``StreamError`` at the first break of
the contract:

- a connection starts with a snapshot, or, when it asked to resume from ``asked`` (an offset and
  its epoch), with exactly the events after that offset of that epoch and then ``resumed``
  naming the same epoch; a resume answered by a snapshot must say ``reset: true``;
- within one epoch, room event offsets rise by exactly one: no gap (except offsets a
  ``skipped`` declares) and never backwards or twice;
- only a ``resync`` may move the connection elsewhere: to another epoch from its offset on, or
  forward within the same epoch, never back;
- one offset of one epoch is one event, whoever received it: an event that differs from what
  another viewer got at the same offset and epoch (snapshots' comments included) means the
  offset was given out twice, which offsets alone would not show.

It returns the position that connection's client resumes from: the newest offset it holds and
its epoch, as they were before any ``resync`` (after a resync the client's state is stale; it
reconnects with what it held and gets a reset snapshot or an exact resume).
"""

from __future__ import annotations

from typing import Any

#: event types that carry ``offset`` but are not room events
NOT_ROOM = frozenset({"snapshot", "reply", "resumed", "skipped", "resync", "welcome", "error"})

Position = tuple[int, str]


class StreamError(AssertionError):
    """A viewer saw a gap, a repeat, an offset going back, or one offset given out twice."""


def _identity(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if not k.startswith("_")}


class Ledger:
    """What every viewer of a test saw at each (epoch, offset)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, int], dict[str, Any]] = {}
        self.resets = 0
        self.resumes = 0
        self.resyncs = 0

    def record(self, epoch: str, event: dict[str, Any]) -> None:
        key = (epoch, int(event["offset"]))
        mine = _identity(event)
        known = self.seen.setdefault(key, mine)
        if known != mine:
            raise StreamError(f"offset {key[1]} of epoch {epoch} is two events: {known} / {mine}")

    def connection(self, events: list[dict[str, Any]], asked: Position | None = None) -> Position:
        """Check one connection's events; return the position its client resumes from."""
        skipped = set()
        for e in events:
            if e.get("type") == "skipped":
                skipped.update(range(int(e["from"]), int(e["to"]) + 1))
        epoch: str | None = None
        offset = 0
        held: Position | None = None  # set at the first resync: what the client resumes from
        missed = 0
        for e in events:
            kind = e.get("type")
            if kind == "snapshot":
                if epoch is not None or missed:
                    raise StreamError(f"a snapshot in the middle of a connection: {e}")
                if asked is not None and e.get("reset") is not True:
                    raise StreamError(f"a resume from {asked} answered without reset: {e}")
                epoch, offset = str(e["epoch"]), int(e["offset"])
                self.resets += asked is not None
                for comment in e.get("comments", []):
                    if int(comment["offset"]) > offset:
                        raise StreamError(f"a snapshot's comment is past its offset: {e}")
                    self.record(epoch, comment)
            elif kind == "resumed":
                if asked is None or epoch is not None:
                    raise StreamError(f"resumed without a resume asked: {e}")
                if str(e["epoch"]) != asked[1]:
                    raise StreamError(f"resumed into epoch {e['epoch']}, asked {asked}")
                if int(e["offset"]) != asked[0] + missed or int(e["missed"]) != missed:
                    raise StreamError(f"resumed {e} after {missed} events from {asked}")
                epoch, offset = asked[1], int(e["offset"])
                self.resumes += 1
            elif kind == "resync":
                if epoch is None:
                    raise StreamError(f"resync before the snapshot: {e}")
                new_epoch, new_offset = str(e["epoch"]), int(e["offset"])
                if new_epoch == epoch and new_offset < offset:
                    raise StreamError(f"resync back from {offset} within epoch {epoch}: {e}")
                if held is None:
                    held = (offset, epoch)
                epoch, offset = new_epoch, new_offset
                self.resyncs += 1
            elif kind not in NOT_ROOM and "offset" in e:
                got = int(e["offset"])
                if epoch is None:
                    if asked is None:
                        raise StreamError(f"a room event before the snapshot: {e}")
                    if got != asked[0] + missed + 1:
                        raise StreamError(f"resume from {asked} sent {got} after {missed}")
                    missed += 1
                    self.record(asked[1], e)
                    continue
                if got <= offset:
                    raise StreamError(f"offset {got} after {offset} in epoch {epoch}: backwards")
                if got != offset + 1 and not set(range(offset + 1, got)) <= skipped:
                    raise StreamError(f"gap: {offset} then {got} in epoch {epoch}")
                offset = got
                self.record(epoch, e)
            elif kind == "skipped":
                offset = max(offset, int(e["to"]))
        if epoch is None:
            raise StreamError(f"the connection never got a snapshot or resumed (asked {asked})")
        return held if held is not None else (offset, epoch)
