"""The fan-out: one room's frame, built once, to every local viewer of the room.

Each local room holds a ``SendList``: the room's viewers sorted by how the next frame reaches
them. A checked flush (``SendList.check``) looks at every viewer's outgoing buffer, writes the
frame, and sorts the viewers for the flushes after it:

* ``fds``/``outs``: viewers whose socket had nothing queued (a live ``DirectOut``). The next
  frames go to them from one call, ``send_all(fds, wire)``, which calls ``send(2)`` on each
  descriptor: the C loop (``liveroom/_sendall.c``) or its twin in Python (``liveroom.sendall``),
  same signature, same answers. Only the sockets that did not take the whole frame come back.
* ``writes``: everyone else under the bound (bytes queued, or no ``DirectOut``: TLS, another
  event loop): one ``write`` each. Their buffers grow unseen, so while any viewer is on this list
  the room checks again every ``CHECK_EVERY`` flushes.
* ``posts``: connections that frame the payload themselves (the ASGI path, ``PayloadOut``).
* ``lagging``: viewers over the bound. They get the room's frames without comments
  (``slow``), and are closed (slow consumers) once over the hard bound or still over the bound
  past the grace: slow consumers never slow a room.

Between checks a flush costs, per frame, a few calls; per viewer, one ``send(2)`` from C and
nothing else: no per-viewer encoding, task, await or Python object. A check comes back when the
lists may be wrong (``stale``): a send the kernel cut short (``DirectOut.behind`` tells its
room's list, no other), a lagging viewer that drained, a viewer over the bound found by the
pulse, a join or leave that cannot be done in place, or blanks piling up. Joins and leaves are
usually done in place: a viewer with nothing queued is appended, one leaving is blanked (-1 in
``fds``; ``send_all`` skips it). A ``DirectOut`` released by its connection (closing, its number
soon free for another connection) blanks its own slot through the handle the list gave it when
its viewer joined (``owner``), so the loop never writes to a number it no longer owns.
"""

from __future__ import annotations

import contextlib
import os
from array import array
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, cast

from liveroom import sendall
from liveroom.direct_out import DirectOut

try:  # the send loop in C, built at install where a compiler was at hand
    from liveroom._sendall import send_all
except ImportError:  # pragma: no cover - built without a C compiler: the same loop in Python
    from liveroom.sendall import send_all

SendAll = Callable[["array[int]", bytes], "list[tuple[int, int]] | None"]

#: flushes between two checks of every viewer's outgoing buffer while some viewer is written
#: to through ``write`` (its buffer grows unseen): a buffer grows by one frame a flush at most
CHECK_EVERY = 8
#: blanks a list may carry before a flush rebuilds it: past 64 and an eighth of the list
BLANKS_MIN = 64


def send_loop(name: str) -> SendAll:
    """The send loop for ``Settings.send_loop``: ``python`` (``liveroom.sendall``), ``c``
    (``liveroom._sendall``; RuntimeError when it was not built) or ``auto`` (C where built)."""
    if name == "python":
        return sendall.send_all
    if name == "c" and send_all is sendall.send_all:
        raise RuntimeError("send_loop is c but liveroom._sendall was not built at install")
    return send_all


def loop_name(loop: SendAll) -> str:
    """ "C" or "Python", for the log."""
    return "Python" if loop is sendall.send_all else "C"


class PayloadOut:
    """A connection that takes a frame's payload and frames it itself (the ASGI path, where the
    server's WebSocket implementation builds the frame). Has a buffer size like any out."""

    __slots__ = ()

    def post(self, payload: bytes) -> None:
        raise NotImplementedError

    def get_write_buffer_size(self) -> int:
        raise NotImplementedError


def write_frame(out: Any, payload: bytes, wire: bytes) -> None:
    """One frame to one out, outside the fast lists: ``wire`` (its bytes), or to a
    ``PayloadOut``, ``payload``."""
    if isinstance(out, PayloadOut):
        out.post(payload)
    else:
        out.write(wire)


class Member(Protocol):
    """What the send list needs of a viewer (``liveroom.hub.Viewer``)."""

    out: Any
    slow_since: float
    left: bool


V = TypeVar("V", bound=Member)


class SendList(Generic[V]):
    """One room's viewers, sorted by how the next frame reaches them (see the module doc).

    ``viewers`` is the room's fan-out membership: ``admit`` adds, ``drop`` removes. ``send`` is
    called once per frame; it returns the frames written and the viewers over ``soft`` bytes.
    """

    __slots__ = (
        "viewers",
        "send_all",
        "soft",
        "hard",
        "grace",
        "fds",
        "outs",
        "slots",
        "writes",
        "posts",
        "lagging",
        "unchecked",
        "blanks",
    )

    def __init__(self, send_all: SendAll, soft: int, hard: int, grace: float) -> None:
        self.viewers: set[V] = set()
        self.send_all = send_all
        self.soft = soft  # outgoing bytes over which a viewer is slow: it skips comments
        self.hard = hard  # over which a slow viewer is closed at once
        self.grace = grace  # seconds a viewer may stay slow before it is closed
        self.fds = array("i")  # the descriptors of ``outs``, for ``send_all``; -1: blank
        self.outs: list[DirectOut | None] = []  # None where blank
        #: ``outs`` -> index, made on the first blank after a check (joins and leaves are rare
        #: next to flushes: a check must not pay for them)
        self.slots: dict[DirectOut | None, int] | None = None
        #: None when the lists no longer match ``viewers``: the next flush checks every buffer
        self.writes: list[Callable[[bytes], None]] | None = None
        self.posts: list[Callable[[bytes], None]] = []
        self.lagging: list[V] = []
        #: fast flushes left before the next check (while ``writes`` is not empty)
        self.unchecked = 0
        self.blanks = 0  # slots of ``fds`` set to -1 since the last check

    def send(self, payload: bytes, wire: bytes) -> tuple[int, list[V]]:
        """The room's frame to every viewer: ``wire`` is ``payload`` framed once. The hot path.

        Returns the frames written and the viewers over their bound (slow), which got nothing.
        """
        # --- once per frame: a few calls; per viewer, only what ``send_all`` and ``_each`` do
        writes = self.writes
        if (
            writes is not None
            and (self.unchecked > 0 or not (writes or self.posts or self.lagging))
            and self.blanks <= max(BLANKS_MIN, len(self.fds) >> 3)
        ):
            self.unchecked -= 1
            posts = self.posts  # read first: a send cut short below lets go of the lists
            sent = self._send_fds(wire)
            # the other lists are nearly always empty: a small room's flush is a few calls
            if writes:
                sent += _each(writes, wire)
            if posts:
                sent += _each(posts, payload)
            if not self.lagging:
                return sent, []
            recovered, slow = self._recheck(payload, wire)
            return sent + recovered, slow
        return self.check(payload, wire)

    def check(self, payload: bytes, wire: bytes) -> tuple[int, list[V]]:
        """Every viewer: a buffer check, then one write of the shared frame. Rebuilds the lists:
        who was under the bound, and whose socket can take the next frames straight from
        ``send``, so that the flushes after this one can skip the checks."""
        soft = self.soft
        outs: list[DirectOut | None] = []
        writes: list[Callable[[bytes], None]] = []
        posts: list[Callable[[bytes], None]] = []
        slow: list[V] = []
        # current from here on: a send cut short below makes the lists stale again at once
        self.fds, self.outs, self.slots = array("i"), [], None
        self.writes, self.posts, self.blanks = writes, posts, 0
        add_out = outs.append
        for viewer in self.viewers:
            out = viewer.out
            try:
                queued = out.get_write_buffer_size()
                if queued > soft:
                    slow.append(viewer)
                    continue
                if isinstance(out, DirectOut) and out.live and not queued:
                    if not out.send_now(wire):
                        continue
                    add_out(out)
                elif isinstance(out, PayloadOut):
                    out.post(payload)
                    posts.append(out.post)
                else:
                    out.write(wire)
                    writes.append(out.write)
            except Exception:  # a transport closing under us: its session cleans up
                continue
            if viewer.slow_since:
                viewer.slow_since = 0.0
        if self.writes is writes:  # not made stale by a send cut short above
            self.fds = array("i", [out.sock.fileno() for out in cast("list[DirectOut]", outs)])
            self.outs, self.slots = outs, None
        self.lagging = slow
        self.unchecked = CHECK_EVERY - 1
        return len(outs) + len(writes) + len(posts), slow

    def _send_fds(self, wire: bytes) -> int:
        """--- once per viewer, in one call: ``send(2)`` to each descriptor of ``fds``, the C loop
        with the GIL released once for all of them, or its Python twin. Only the sockets that did
        not take the whole frame come back: the rest of the frame waits in uvloop
        (``DirectOut.behind``, which makes the next flush a checked one); a failed send ends
        its connection (``DirectOut.fail``). A blank slot is a socket that left or was
        released: nothing was sent to its number."""
        fds, outs = self.fds, self.outs
        misses = self.send_all(fds, wire)
        if misses is None:
            return len(fds)
        failed = 0
        for index, result in misses:
            out = outs[index]
            if out is None:  # blank
                failed += 1
                continue
            try:
                if result >= 0:
                    out.behind(wire, result)
                    continue
                out.fail(OSError(-result, os.strerror(-result)))
            except Exception:  # a transport closing under us: its session cleans up
                pass
            failed += 1
        return len(fds) - failed

    def _recheck(self, payload: bytes, wire: bytes) -> tuple[int, list[V]]:
        """Viewers over their bound at the last check: the ones that drained get the frame (and
        the lists are rebuilt next flush); the rest are still slow. Returns frames written and
        the viewers still slow."""
        soft = self.soft
        still: list[V] = []
        written = 0
        for viewer in self.lagging:
            if viewer.left:
                continue
            if viewer.out.get_write_buffer_size() > soft:
                still.append(viewer)
                continue
            try:
                write_frame(viewer.out, payload, wire)
                written += 1
            except Exception:  # a transport closing under us: its session cleans up
                pass
            viewer.slow_since = 0.0
            self.stale()
        self.lagging = still
        return written, still

    def slow(self, slow: list[V], payload: bytes, wire: bytes, now: float) -> list[V]:
        """Viewers ``send`` found over their bound: each gets this frame without its comments
        (``payload``, framed as ``wire``), unless over the hard bound or slow for longer than
        the grace. Those are returned, to be closed (slow consumers)."""
        over: list[V] = []
        for viewer in slow:
            if not viewer.slow_since:
                viewer.slow_since = now
            size = viewer.out.get_write_buffer_size()
            if size > self.hard or now - viewer.slow_since > self.grace:
                over.append(viewer)
                continue
            with contextlib.suppress(Exception):
                write_frame(viewer.out, payload, wire)
        return over

    def laggards(self, now: float) -> list[V]:
        """Once a pulse, since a quiet room has no flush to notice: viewers over the bound start
        their grace (and the next flush checks every buffer). Returns those over it past the
        grace, to be closed. While the lists are current and every viewer is on ``fds``, each
        took its last frame whole (a send cut short makes them stale), so nothing is queued
        anywhere: nobody is looked at."""
        if self.writes is not None and not (self.writes or self.posts or self.lagging):
            return []
        over: list[V] = []
        for viewer in self.viewers:
            if viewer.out.get_write_buffer_size() <= self.soft:
                viewer.slow_since = 0.0
            elif not viewer.slow_since:
                viewer.slow_since = now
                self.stale()
            elif now - viewer.slow_since > self.grace:
                over.append(viewer)
        return over

    def admit(self, viewers: list[V]) -> None:
        """Viewers join the fan-out. When the lists are current and each viewer's socket has
        nothing queued, they are appended in place; otherwise the next flush checks every
        buffer and rebuilds the lists."""
        self.viewers.update(viewers)
        in_place = self.writes is not None
        for viewer in viewers:
            out = viewer.out
            if isinstance(out, DirectOut):
                out.owner = self  # the handle: its release blanks its slot, a short send checks
                if out.live and not out.get_write_buffer_size():
                    continue
            in_place = False
        if not in_place:
            self.stale()
            return
        slots = self.slots
        for viewer in viewers:
            out = viewer.out
            if slots is not None:
                slots[out] = len(self.outs)
            self.outs.append(out)
            self.fds.append(out.sock.fileno())

    def drop(self, viewer: V) -> None:
        """``viewer`` leaves the fan-out. Its slot is blanked in place when the lists hold only
        ``send`` sockets (a released socket blanked its slot already); otherwise the next
        flush checks every buffer and rebuilds the lists."""
        self.viewers.remove(viewer)
        out = viewer.out
        if isinstance(out, DirectOut):
            out.owner = None
        if self.writes is None:
            return
        if self.writes or self.posts or not isinstance(out, DirectOut) or viewer in self.lagging:
            self.stale()
        elif not self.blank(out) and out.live:  # live, yet in no slot: the lists are wrong
            self.stale()

    def blank(self, out: DirectOut) -> bool:
        """Skip ``out``'s slot from now on; False when ``out`` holds no slot in these lists.
        A blank costs ``send_all`` a skipped entry per flush: past ``BLANKS_MIN`` of them (and
        an eighth of the list) the next flush rebuilds the lists."""
        slots = self.slots
        if slots is None:
            slots = self.slots = dict(zip(self.outs, range(len(self.outs)), strict=True))
            slots.pop(None, None)  # the blanks
        index = slots.pop(out, -1)
        if index < 0:
            return False
        self.outs[index] = None
        self.fds[index] = -1
        self.blanks += 1
        return True

    def stale(self) -> None:
        """The lists no longer match what the viewers' sockets hold: the next flush checks
        every buffer and rebuilds them. They are let go of now: nothing may write to them."""
        if self.writes is None:
            return
        self.writes = None
        self.posts = []
        self.fds = array("i")
        self.outs = []
        self.slots = None


def _each(writes: list[Callable[[bytes], None]], data: bytes) -> int:
    """--- once per viewer: one call, nothing else. A transport closing under us costs only its
    own frame; its session cleans up."""
    failed = 0
    pending = iter(writes)
    while True:
        try:
            for write in pending:
                write(data)
            return len(writes) - failed
        except Exception:
            failed += 1
