"""``Connection.detach`` hands the session the messages read before it. A session that answers
each in place (``tasks.start_in_place``) settles after every one; a Close held meanwhile (or a
drain's 1012) must still wait for the last of them.

The wire is a recording stand-in for the server's protocol object (``Wire``): this checks the
connection's own rules, step by step, where an end-to-end test can only hit the race now and
then (``tests/e2e/test_client_frames.py``)."""

from __future__ import annotations

from collections.abc import Callable

from liveroom.connection.connection import Connection, Message


class RecordingWire:
    """What the connection did to the wire, in order. Messages read before the detach wait
    in ``unread`` and go to the connection at ``take_over``."""

    def __init__(self, unread: list[str]) -> None:
        self.unread = unread
        self.did: list[str] = []
        self.closed = False

    def is_open(self) -> bool:
        return not self.closed

    def upgraded(self) -> bool:
        return True

    def sent_close(self) -> bool:
        return self.closed

    def has_unread(self) -> bool:
        return bool(self.unread)

    def stop_reading(self) -> None:
        self.did.append("stop reading")

    def start_reading(self) -> None:
        self.did.append("start reading")

    def stop_pings(self) -> None:
        pass

    def send_close(self, code: int, reason: str) -> None:
        self.closed = True
        self.did.append(f"close {code}")

    def expect_close(self, abort_after: float) -> None:
        pass

    def queued_close(self) -> tuple[int, str]:
        return 1002, "queued"

    def flush_close(self, abort_after: float) -> None:
        self.closed = True
        self.did.append("held close out")

    def disconnect(self, code: int, reason: str) -> None:
        pass

    def take_over(self, connection: Connection) -> None:
        while self.unread:
            connection.received(self.unread.pop(0))


class RecordingOut:
    def __init__(self, wire: RecordingWire) -> None:
        self.wire = wire

    def write(self, data: bytes) -> None:
        self.wire.did.append(f"sent {data[2:].decode()}")

    def is_closing(self) -> bool:
        return self.wire.closed

    def release(self) -> None:
        pass


def answering_in_place(conn: Connection) -> Callable[[Message], None]:
    """A session whose every command finishes where it is delivered, as on the memory engine."""

    def on_message(data: Message) -> None:
        conn.busy()
        conn.send(f"reply to {data!s}".encode())
        conn.settle()

    return on_message


async def test_a_close_held_before_the_detach_goes_out_after_every_reply() -> None:
    wire = RecordingWire(["m1", "m2", "m3"])
    conn = Connection(wire, RecordingOut(wire))  # type: ignore[arg-type]
    assert conn.hold_close()  # the parser found a bad frame after the three commands
    conn.detach(answering_in_place(conn), lambda: None)
    sent = [step for step in wire.did if step.startswith(("sent", "held"))]
    assert sent == ["sent reply to m1", "sent reply to m2", "sent reply to m3", "held close out"]
    assert not conn.holding


async def test_a_drain_begun_before_the_detach_closes_after_every_reply() -> None:
    wire = RecordingWire(["m1", "m2"])
    conn = Connection(wire, RecordingOut(wire))  # type: ignore[arg-type]
    conn.draining = True  # SIGTERM came while the session joined
    conn.detach(answering_in_place(conn), lambda: None)
    sent = [step for step in wire.did if step.startswith(("sent", "close"))]
    assert sent == ["sent reply to m1", "sent reply to m2", "close 1012"]


async def test_without_a_held_close_the_detach_reads_on() -> None:
    wire = RecordingWire(["m1"])
    conn = Connection(wire, RecordingOut(wire))  # type: ignore[arg-type]
    conn.detach(answering_in_place(conn), lambda: None)
    assert wire.did == ["sent reply to m1", "start reading"]
    assert not wire.closed
