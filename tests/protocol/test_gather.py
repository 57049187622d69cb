"""A node's commands gathered for a window, then run together (``connection/gather.py``)."""

from __future__ import annotations

import asyncio
import math
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
import pytest
import uvloop

from liveroom import metrics
from liveroom.app import Node
from liveroom.config import Settings
from liveroom.connection import gather as gather_module
from liveroom.connection.gather import Gather
from tests.liveclient import LiveClient, token
from tests.timeouts import scaled
from tests.wsraw import TEXT, RawSocketClient, client_frame


class Member:
    """Notes when its window ended; ``then``: also what runs on the loop's next turn."""

    def __init__(self, name: str, runs: list[tuple[str, float]], then: bool = False) -> None:
        self.name = name
        self.runs = runs
        self.then = then

    def run_gathered(self) -> None:
        self.runs.append((self.name, time.monotonic()))
        if self.then:
            asyncio.get_running_loop().call_soon(self.runs.append, ("next turn", 0.0))


class Closer:
    """A member that tells the test its window ended."""

    def __init__(self, ended: asyncio.Event) -> None:
        self.ended = ended

    def run_gathered(self) -> None:
        self.ended.set()


async def test_members_of_one_window_run_together_in_order_once() -> None:
    """Members added within a window all run at its end, in the order added, in one callback
    (before anything the first of them schedules for the loop's next turn); the next member
    after that opens a window of its own."""
    loop = asyncio.get_running_loop()
    gather = Gather(0.05)
    runs: list[tuple[str, float]] = []
    ended = asyncio.Event()
    first = time.monotonic()
    gather.add(Member("a", runs, then=True))
    gather.add(Member("b", runs))
    loop.call_soon(gather.add, Member("c", runs))  # later in the window, from callbacks
    loop.call_later(0.01, gather.add, Member("d", runs))
    loop.call_later(0.01, gather.add, Closer(ended))
    await asyncio.wait_for(ended.wait(), scaled(5))
    assert [name for name, _ in runs] == ["a", "b", "c", "d", "next turn"]
    # (a timer's clock may run a little behind the monotonic one: a millisecond's slack)
    assert all(at >= first + 0.049 for name, at in runs if name != "next turn")
    assert gather.waiting == []
    ended.clear()
    again = time.monotonic()
    gather.add(Member("e", runs))
    gather.add(Closer(ended))
    await asyncio.wait_for(ended.wait(), scaled(5))
    assert runs[-1][0] == "e" and runs[-1][1] >= again + 0.049


async def test_a_close_ends_the_window_at_once_and_its_timer_runs_nothing() -> None:
    """The node's close ends the window under way there and then; the cancelled timer runs no
    member a second time."""
    gather = Gather(0.02)
    runs: list[tuple[str, float]] = []
    gather.add(Member("a", runs))
    gather.close()
    assert [name for name, _ in runs] == ["a"] and gather.waiting == []
    # a window longer than the closed one, opened after the close, ends after it would have
    ended = asyncio.Event()
    later = Gather(0.05)
    later.add(Closer(ended))
    await asyncio.wait_for(ended.wait(), scaled(5))
    assert [name for name, _ in runs] == ["a"]


LoopFactory = Callable[[], asyncio.AbstractEventLoop]
#: the read hold's tests run on asyncio's loop and on uvloop's, which the server runs on: its
#: clock is libuv's, read once a turn, where asyncio reads the monotonic clock at each ask
ON_BOTH_LOOPS = pytest.mark.parametrize(
    "loop_factory",
    [asyncio.new_event_loop, uvloop.new_event_loop],
    ids=["asyncio", "uvloop"],
)


def _run(loop_factory: LoopFactory, test: Coroutine[Any, Any, None]) -> None:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(test)


def _send_three(
    sock: socket.socket, start: threading.Event, read: threading.Event | None
) -> threading.Thread:
    """A thread that sends three bytes to ``sock``, one ``send`` each, once ``start`` is set:
    back to back, or, given ``read`` (set by the loop's reader), each once the loop has read
    the one before."""

    def send() -> None:
        if not start.wait(scaled(5)):
            return
        for _ in range(3):
            if read is not None:
                read.clear()
            sock.send(b"x")
            if read is not None and not read.wait(scaled(5)):
                return

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


async def _reads_during_a_window(hold: bool) -> tuple[list[tuple[bytes, float]], float, float]:
    """Open a 400 ms window and have a thread send three bytes in it: with the hold, back to
    back once the hold has begun (when it asks ``hold_until``); without, one at a time, each
    once the loop has read the one before. What the loop read and when, when the window
    opened, and when its member ran."""
    loop = asyncio.get_running_loop()
    start, was_read = threading.Event(), threading.Event()

    def hold_until() -> float:
        start.set()  # the thread sleeps from here: the bytes come during the hold
        return math.inf

    gather = Gather(0.4, hold_until if hold else None)
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    reads: list[tuple[bytes, float]] = []
    ended = asyncio.Event()
    runs: list[tuple[str, float]] = []

    def read() -> None:
        reads.append((ours.recv(64), time.monotonic()))
        was_read.set()

    loop.add_reader(ours.fileno(), read)
    try:
        sender = _send_three(theirs, start, None if hold else was_read)
        opened = time.monotonic()
        if not hold:
            start.set()
        gather.add(Member("a", runs))
        gather.add(Closer(ended))
        await asyncio.wait_for(ended.wait(), scaled(5))
        await asyncio.to_thread(sender.join, scaled(5))
        deadline = time.monotonic() + scaled(5)
        while sum(len(data) for data, _ in reads) < 3:  # (without the hold, read already)
            assert time.monotonic() < deadline, reads
            await asyncio.sleep(0.01)
    finally:
        loop.remove_reader(ours.fileno())
        ours.close()
        theirs.close()
    return reads, opened, runs[0][1]


@ON_BOTH_LOOPS
def test_the_read_hold_reads_what_came_in_the_window_at_once_before_its_end(
    loop_factory: LoopFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a hold as long as the window, so that its end is the window's
    monkeypatch.setattr(gather_module, "HOLD_MAX_S", 1.0)
    _run(loop_factory, _test_the_read_hold_reads_what_came_in_the_window_at_once_before_its_end())


async def _test_the_read_hold_reads_what_came_in_the_window_at_once_before_its_end() -> None:
    """With the read hold, the loop's thread sleeps once the window opens: the three bytes sent
    one by one during the hold of a 400 ms window are read together, in one wake-up, at the
    window's end, and before its members run."""
    reads, opened, ran = await _reads_during_a_window(hold=True)
    assert [data for data, _ in reads] == [b"xxx"]
    read_at = reads[0][1]
    # (the loop's clock counts whole milliseconds: a millisecond's slack)
    assert opened + 0.4 - 0.002 <= read_at <= ran


@ON_BOTH_LOOPS
def test_without_the_hold_the_loop_reads_each_frame_as_it_comes(loop_factory: LoopFactory) -> None:
    _run(loop_factory, _test_without_the_hold_the_loop_reads_each_frame_as_it_comes())


async def _test_without_the_hold_the_loop_reads_each_frame_as_it_comes() -> None:
    """With no hold the loop stays awake through the window: the first byte is read long
    before the window's end, and the three come in more than one read."""
    reads, opened, ran = await _reads_during_a_window(hold=False)
    assert len(reads) > 1 and sum(len(data) for data, _ in reads) == 3
    assert reads[0][1] < opened + 0.3 < ran


@ON_BOTH_LOOPS
def test_the_read_hold_ends_by_the_time_its_caller_gives(loop_factory: LoopFactory) -> None:
    _run(loop_factory, _test_the_read_hold_ends_by_the_time_its_caller_gives())


async def _test_the_read_hold_ends_by_the_time_its_caller_gives() -> None:
    """``hold_until`` (the hub's next tick) ends a hold before the window's end: a callback
    queued after the hold in a 400 ms window runs 20 ms in, not at the window's end (nor at
    ``HOLD_MAX_S``). The slept time is counted in ``liveroom_gather_hold_seconds``."""
    await _a_hold_ends_at(0.02, lambda tick: Gather(0.4, lambda: tick))


@ON_BOTH_LOOPS
def test_a_hold_lasts_hold_max_s_at_most(loop_factory: LoopFactory) -> None:
    _run(loop_factory, _test_a_hold_lasts_hold_max_s_at_most())


async def _test_a_hold_lasts_hold_max_s_at_most() -> None:
    """Whatever the window (up to a second) and the tick, a hold ends after ``HOLD_MAX_S``:
    a callback queued after the hold in a 400 ms window with no tick to come runs 50 ms in."""
    assert gather_module.HOLD_MAX_S == 0.05
    await _a_hold_ends_at(0.05, lambda tick: Gather(0.4, lambda: math.inf))


async def _a_hold_ends_at(after: float, make: Callable[[float], Gather]) -> None:
    """Open a window of ``make(tick)`` (``tick``: ``after`` from now on the loop's clock) and
    queue a callback after its hold: the callback runs once the hold is over, ``after`` in."""
    loop = asyncio.get_running_loop()
    before = metrics.GATHER_HOLD_SECONDS._value.get()
    opened = loop.time()
    gather = make(opened + after)
    fired: list[float] = []
    ended = asyncio.Event()
    gather.add(Closer(ended))
    # queued after the hold: it runs when the thread wakes (a timer due meanwhile could run
    # first, were the loop's turn to begin after it was due)
    loop.call_soon(lambda: fired.append(loop.time()))
    await asyncio.wait_for(ended.wait(), scaled(5))
    assert len(fired) == 1
    # not before the hold's end (the loop's clock counts whole milliseconds: 2 ms of slack),
    # and soon after it
    assert opened + after - 0.002 <= fired[0] < opened + after + scaled(0.02)
    slept = metrics.GATHER_HOLD_SECONDS._value.get() - before
    # (the loop's clock counts whole milliseconds, and a busy machine oversleeps)
    assert 0 < slept <= after + scaled(0.02)


@ON_BOTH_LOOPS
def test_a_hold_the_tick_ended_goes_on_to_the_windows_end(
    loop_factory: LoopFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gather_module, "HOLD_MAX_S", 1.0)  # (the cap is not what this tests)
    _run(loop_factory, _test_a_hold_the_tick_ended_goes_on_to_the_windows_end())


async def _test_a_hold_the_tick_ended_goes_on_to_the_windows_end() -> None:
    """A 120 ms window whose hold the tick ends 20 ms in: the tick's callback (a timer, as the
    hub's) moves the next tick out of the window and calls ``hold_again``. The hold goes on
    to the window's end: a callback the tick queued after it runs 120 ms in, not 20 ms in.
    Both holds are counted. With no window under way, ``hold_again`` holds nothing."""
    loop = asyncio.get_running_loop()
    before = metrics.GATHER_HOLD_SECONDS._value.get()
    opened = loop.time()
    tick = [opened + 0.02]
    gather = Gather(0.12, lambda: tick[0])
    fired: list[float] = []
    ended = asyncio.Event()

    def on_tick() -> None:
        tick[0] = opened + 1.0
        gather.hold_again()
        loop.call_soon(lambda: fired.append(loop.time()))  # queued after the hold

    gather.add(Closer(ended))
    loop.call_at(opened + 0.02, on_tick)
    await asyncio.wait_for(ended.wait(), scaled(5))
    assert len(fired) == 1
    # (the loop's clock counts whole milliseconds: 2 ms of slack)
    assert opened + 0.12 - 0.002 <= fired[0] < opened + 0.12 + scaled(0.03)
    slept = metrics.GATHER_HOLD_SECONDS._value.get() - before
    # about 120 ms in two holds (20 and 100 ms); one alone, without ``hold_again``, is 20 ms
    assert 0.08 <= slept <= 0.12 + scaled(0.03)
    idle = metrics.GATHER_HOLD_SECONDS._value.get()
    gather.hold_again()  # the window has ended
    Gather(0.12, lambda: math.inf).hold_again()  # none ever opened
    started = time.monotonic()
    await asyncio.sleep(0)
    assert time.monotonic() - started < 0.1
    assert metrics.GATHER_HOLD_SECONDS._value.get() == idle


@ON_BOTH_LOOPS
def test_a_lone_members_window_ends_on_time_with_the_hold(loop_factory: LoopFactory) -> None:
    _run(loop_factory, _test_a_lone_members_window_ends_on_time_with_the_hold())


async def _test_a_lone_members_window_ends_on_time_with_the_hold() -> None:
    """With nothing read during a hold, the window still ends on time: the loop's poll after
    the hold does not wait out the slept time again (uvloop's clock, read at the start of the
    loop's turn, is read again after the sleep). Five windows of 50 ms, one member each."""
    gather = Gather(0.05, lambda: math.inf)
    took = []
    for _ in range(5):
        ended = asyncio.Event()
        opened = time.monotonic()
        gather.add(Closer(ended))
        await asyncio.wait_for(ended.wait(), scaled(5))
        took.append(time.monotonic() - opened)
    # the median: a busy machine may be late to wake now and then. Waiting the slept time
    # out twice made every window 100 ms
    assert 0.049 <= sorted(took)[2] < 0.08, took


@ON_BOTH_LOOPS
def test_no_hold_when_the_window_ends_first_or_has_ended(loop_factory: LoopFactory) -> None:
    _run(loop_factory, _test_no_hold_when_the_window_ends_first_or_has_ended())


async def _test_no_hold_when_the_window_ends_first_or_has_ended() -> None:
    """A hold due to end before it would begin (the tick is now) sleeps not at all; nor does
    a hold whose window a close ended before its turn came."""
    loop = asyncio.get_running_loop()
    before = metrics.GATHER_HOLD_SECONDS._value.get()
    gather = Gather(0.4, loop.time)
    ended = asyncio.Event()
    gather.add(Closer(ended))
    started = time.monotonic()
    await asyncio.sleep(0)  # the hold's turn
    assert time.monotonic() - started < 0.3
    gather.close()
    closed = Gather(0.4, lambda: math.inf)
    closed.add(Member("a", []))
    closed.close()  # before the hold's turn
    started = time.monotonic()
    await asyncio.sleep(0)
    assert time.monotonic() - started < 0.3
    assert metrics.GATHER_HOLD_SECONDS._value.get() == before


@pytest.mark.parametrize(
    ("engine", "hold", "holds"),
    [("memory", True, True), ("memory", False, False), ("redis", True, False)],
)
def test_a_node_holds_on_the_memory_engine_unless_told_not_to(
    engine: str, hold: bool, holds: bool
) -> None:
    """The node's gather holds on the memory engine, ending by the hub's next tick and going
    on after it; not with ``command_gather_hold`` off, and not on Redis, where a reply may be
    on its way."""
    settings = Settings(engine=engine, command_gather_hold=hold, redis_url="redis://127.0.0.1:1")
    node = Node(settings)
    assert (node.gather.hold_until is not None) is holds
    assert (node.hub.after_tick is not None) is holds
    if holds:
        assert node.gather.hold_until == node.hub.next_tick_at
        assert node.hub.after_tick == node.gather.hold_again


class Failing:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def run_gathered(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error", [RuntimeError("a member that breaks"), asyncio.CancelledError()], ids=repr
)
async def test_a_member_that_fails_does_not_hold_up_the_others(
    caplog: pytest.LogCaptureFixture, error: BaseException
) -> None:
    """One member's error is logged; the members after it in the window still run. So too
    for a cancellation coming out of a member's commands (run in place): a member left out
    would never run a command again."""
    gather = Gather(0.01)
    runs: list[tuple[str, float]] = []
    ended = asyncio.Event()
    gather.add(Member("a", runs))
    gather.add(Failing(error))
    gather.add(Member("b", runs))
    gather.add(Closer(ended))
    await asyncio.wait_for(ended.wait(), scaled(5))
    assert [name for name, _ in runs] == ["a", "b"]
    assert "starting gathered commands failed" in caplog.text


def test_a_window_left_on_a_closed_loop_does_not_hold_the_next_loops_members() -> None:
    """A node's gather outlives a loop (an app served twice in tests): the window armed on
    the first loop never ends, and must not keep the second loop's members waiting for it."""
    gather = Gather(0.01)
    runs: list[tuple[str, float]] = []

    async def add_only() -> None:
        gather.add(Member("lost with its loop", runs))

    asyncio.run(add_only())  # the loop closes with the window under way

    async def add_and_wait() -> None:
        ended = asyncio.Event()
        gather.add(Member("b", runs))
        gather.add(Closer(ended))
        await asyncio.wait_for(ended.wait(), scaled(5))

    asyncio.run(add_and_wait())
    assert [name for name, _ in runs] == ["b"]


def test_hold_again_leaves_a_window_on_a_closed_loop_alone() -> None:
    """The hub's tick on a second loop, with a window left on a closed first loop (a node's
    gather outliving a loop): ``hold_again`` queues nothing on the closed loop, and raises
    nothing into the tick."""
    gather = Gather(1.0, lambda: 0.0)  # (a hold that ends before it begins: no sleep)

    async def add_only() -> None:
        gather.add(Member("lost with its loop", []))

    asyncio.run(add_only())  # the loop closes with the window under way
    assert gather._timer is not None and gather._loop is not None and gather._loop.is_closed()

    async def tick() -> None:
        gather.hold_again()

    asyncio.run(tick())


def test_hold_again_queues_no_second_hold_while_one_is_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A window opened in the same turn as the tick has its hold queued already: the tick's
    ``hold_again`` adds none, so the thread sleeps once, not twice with no poll between."""
    slept: list[float] = []
    monkeypatch.setattr(gather_module.time, "sleep", slept.append)

    async def body() -> None:
        gather = Gather(0.2, lambda: math.inf)
        ended = asyncio.Event()
        gather.add(Closer(ended))  # queues its hold
        gather.hold_again()  # the tick, in the same turn
        await asyncio.sleep(0)  # the queued holds run
        assert len(slept) == 1
        gather.hold_again()  # once that hold has run, the tick may queue the next
        await asyncio.sleep(0)
        assert len(slept) == 2
        gather.close()

    asyncio.run(body())


def test_a_close_on_the_next_loop_drops_a_window_left_on_a_closed_one() -> None:
    """The node's close, on a loop other than the one a window was left on (which has gone,
    with the connections of its members), runs none of that window's members."""
    gather = Gather(0.01)
    runs: list[tuple[str, float]] = []

    async def add_only() -> None:
        gather.add(Member("lost with its loop", runs))

    asyncio.run(add_only())

    async def close() -> None:
        gather.close()

    asyncio.run(close())
    assert runs == [] and gather.waiting == []


@pytest.mark.parametrize("bad", [-1, 1001])
def test_the_window_is_from_0_to_1000_ms(bad: float) -> None:
    """A window outside 0 to 1000 ms is refused when the settings are read."""
    with pytest.raises(ValueError, match="command_gather_ms"):
        Settings(command_gather_ms=bad).validate()


@pytest.mark.parametrize("window_ms", [0, 300])
@pytest.mark.parametrize("engine", ["memory", "redis"])
async def test_gathered_commands_are_answered_in_order_after_the_window(
    start_server: Any, redis_server_settings: dict[str, object], engine: str, window_ms: int
) -> None:
    """With a 300 ms window: a comment sent to an idle node is answered no sooner than the
    window's end. With it, and with none (each command started where it is read): eight
    connections' comments sent at once are all answered, each connection's in the order sent,
    and reach the room in that order. On the memory engine the node held its reads in the
    window (``liveroom_gather_hold_seconds``)."""
    settings: dict[str, object] = {
        "command_gather_ms": window_ms,
        "user_comment_limit": 100,  # (the defaults would shed or refuse some of the burst)
        "room_comment_cap": 0,
    }
    if engine == "redis":
        settings.update(redis_server_settings)
    server = start_server(**settings)
    clients = [await LiveClient.connect(server.ws_url, "gathered", f"u{i}") for i in range(8)]
    for client in clients:
        await client.event("snapshot")
    sent = time.monotonic()
    alone = await clients[0].command("comment", text="alone")
    assert alone["ok"] is True
    # not before the window's end (less a little: the server's timer may run on a loop
    # clock read a moment before the frame came in); without a window it takes milliseconds
    if window_ms:
        assert time.monotonic() - sent >= 0.28
    for client in clients:  # three each, back to back, every connection's at once
        for n in range(3):
            await client.send_raw(
                orjson.dumps({"type": "comment", "id": f"k{n}", "text": f"{n}"}).decode()
            )
    for client in clients:
        await client.wait(lambda c=client: all(f"k{n}" in c.replies for n in range(3)), 10)
        offsets = [client.replies[f"k{n}"]["offset"] for n in range(3)]
        assert all(client.replies[f"k{n}"]["ok"] for n in range(3))
        assert offsets == sorted(offsets) and len(set(offsets)) == 3
    watcher = clients[-1]
    await watcher.wait(lambda: len(watcher.of_type("comment")) == 1 + 3 * 8, 10)
    by_user: dict[str, list[str]] = {}
    for event in watcher.of_type("comment"):
        by_user.setdefault(event["user"]["id"], []).append(event["text"])
    assert by_user.pop("u0")[0] == "alone"
    assert all(texts[-3:] == ["0", "1", "2"] for texts in by_user.values())
    assert watcher.offsets() == sorted(watcher.offsets())
    for client in clients:
        await client.close()
    # the node slept through its windows (the read hold) on the memory engine only
    held = await asyncio.to_thread(server.metric, "liveroom_gather_hold_seconds_total")
    assert (held > 0) is (engine == "memory" and window_ms > 0), held


@pytest.mark.parametrize("engine", ["memory", "redis"])
async def test_a_connection_lost_while_its_commands_wait_for_the_window(
    start_server: Any, redis_server_settings: dict[str, object], engine: str
) -> None:
    """A client sends comments and drops its TCP connection (a reset) while they wait for the
    node's window (1 s): the node lets go of the connection at once, the window's end passes it
    by without an error, and another connection's comment in the same window is answered and
    reaches the room. The dropped connection's commands, never answered, are not run."""
    settings: dict[str, object] = {"command_gather_ms": 1000}
    if engine == "redis":
        settings.update(redis_server_settings)
    server = start_server(**settings)
    watcher = await LiveClient.connect(server.ws_url, "dropped", "watcher")
    await watcher.event("snapshot")
    raw = RawSocketClient(server.port, f"/ws?room=dropped&token={token('dropper', 'dropped')}")
    try:
        # joined: the comments go to its session, not the handshake
        raw.until_event(lambda event: event.get("type") == "snapshot")
        comments = (orjson.dumps({"type": "comment", "id": f"d{n}", "text": "x"}) for n in range(3))
        sent = time.monotonic()
        raw.sock.sendall(b"".join(client_frame(TEXT, body) for body in comments))
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        raw.close()  # with a linger of 0: a reset, no Close frame
    deadline = time.monotonic() + scaled(10)
    # the node has finished the dropped session
    while await asyncio.to_thread(server.metric, "liveroom_connections") != 1:
        assert time.monotonic() < deadline, "the dropped connection is still counted"
        await asyncio.sleep(0.02)
    in_the_window = time.monotonic() < sent + 0.9
    answer = await watcher.command("comment", text="still here", timeout=10)
    assert answer["ok"] is True
    await watcher.wait(lambda: any(e["text"] == "still here" for e in watcher.of_type("comment")))
    if in_the_window:  # (all but always) the session ended before its commands were started
        # they would have reached the room before "still here", started ahead of it
        assert [e["text"] for e in watcher.of_type("comment")] == ["still here"]
    await watcher.close()
    log = server.log_path.read_text()
    assert "Traceback" not in log and "gathered commands failed" not in log, log


def _refused_by_the_bucket(sent: list[float], rate: float, burst: int) -> int:
    """How many of commands coming at ``sent`` a bucket of ``burst`` refilled at ``rate`` a
    second refuses, counted as ``Session.take`` counts them, from a full bucket."""
    tokens, last, refused = float(burst), sent[0], 0
    for at in sent:
        tokens = min(burst, tokens + (at - last) * rate) - 1
        last = at
        refused += tokens < 0
    return refused


@pytest.mark.parametrize("window_ms", [0, 1000])
async def test_commands_that_wait_for_the_window_are_rated_as_they_came(
    start_server: Any, window_ms: int
) -> None:
    """30 pings over 0.6 s against a bucket of 20 refilled at 30 a second: within the rate as
    they come (20 + 18 tokens), so none is refused, with or without a window (or, if the test
    was held up and sent some together, no more than the bucket refuses of them as they were
    sent, and one at its edge). Rated at the window's end, all at once, they had lost the
    refill between them: 10 were refused."""
    server = start_server(command_gather_ms=window_ms, command_rate=30, command_burst=20)
    client = await LiveClient.connect(server.ws_url, "rated", "pinger")
    await client.event("snapshot")
    start = time.monotonic()
    sent: list[float] = []
    for n in range(30):  # one every 20 ms, by the clock
        await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))
        sent.append(time.monotonic())
        await client.send_raw(orjson.dumps({"type": "ping", "id": f"p{n}"}).decode())
    await client.wait(lambda: len(client.replies) == 30, 10)
    refused = [r["id"] for r in client.replies.values() if not r["ok"]]
    assert len(refused) <= _refused_by_the_bucket(sent, 30, 20) + 1, refused
    await client.close()
