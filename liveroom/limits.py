"""Connection limits: who a client really is behind proxies, how many sockets it holds, and
how fast the process takes new ones.

``client_ip`` believes ``X-Forwarded-For`` only when the TCP peer is a trusted proxy
(``Settings.trusted_proxies``), so a client cannot claim an address of its choosing to slip past
the connection cap. ``ConnectionCaps`` counts open WebSockets per address in this process.
``AdmissionRate`` admits new connections at a steady rate, so a reconnect storm (every viewer of
a restarted node at once) queues at the clients instead of in this process.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Callable

from liveroom.config import IPNetwork, Settings


def _trusted(address: str, proxies: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_ip(peer: str | None, forwarded_for: str | None, proxies: tuple[IPNetwork, ...]) -> str:
    """The client's address as far as it can be trusted.

    ``peer`` is the TCP peer; ``forwarded_for`` the ``X-Forwarded-For`` value (several headers
    joined with commas). The header is read right to left while the hop that wrote it is trusted:
    the first untrusted address is the client. A client that forges the header only adds entries
    to its left, which are never reached.
    """
    address = peer or "unknown"
    if not forwarded_for or not _trusted(address, proxies):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        if not hop:
            continue
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # garbage from a proxy we trust: fall back to that proxy
        address = hop
        if not _trusted(hop, proxies):
            break
    return address


class ConnectionCaps:
    """Open WebSocket connections per client address, capped at ``Settings.max_conns_per_ip``.

    Per process: with several workers or nodes the total allowed is the cap times their number.
    Call ``acquire`` once a connection is accepted and ``release`` exactly once when it ends.
    """

    __slots__ = ("cap", "proxies", "counts")

    def __init__(self, settings: Settings) -> None:
        self.cap = settings.max_conns_per_ip
        self.proxies = settings.proxies
        self.counts: dict[str, int] = {}

    def acquire(self, address: str) -> bool:
        """Count one more connection from ``address``; False (and nothing counted) past the cap."""
        held = self.counts.get(address, 0)
        if self.cap and held >= self.cap:
            return False
        self.counts[address] = held + 1
        return True

    def release(self, address: str) -> None:
        held = self.counts.get(address, 0) - 1
        if held > 0:
            self.counts[address] = held
        else:
            self.counts.pop(address, None)


#: the longest ``retry_after`` a refused connection is told, in seconds
MAX_RETRY_AFTER_S = 60.0


class AdmissionRate:
    """New WebSocket connections per second for this process: a token bucket of
    ``Settings.admit_rate`` per second holding at most ``Settings.admit_burst`` (rate 0: no
    limit).

    Call ``admit`` once per new connection, before any other work on it. A refused connection is
    told when to come back (``retry_after``, seconds). Each refusal is given its own turn,
    ``1 / rate`` after the turn given to the refusal before it, so a storm's refused clients come
    back spread over the time the process needs for them rather than all after the same delay;
    each turn is then jittered by up to a quarter either way, so that nodes refusing at the same
    moment do not send their clients back in step either.
    """

    __slots__ = ("rate", "burst", "tokens", "stamp", "promised", "clock", "random")

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.random = rand
        self.tokens = float(burst)
        self.stamp = clock()
        self.promised = 0.0  # the latest turn handed to a refused connection (clock time)

    def admit(self) -> float | None:
        """Take one connection: None when admitted, else seconds until it should try again."""
        if self.rate <= 0:
            return None
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens > 0.999999:  # one whole token, give or take float rounding
            self.tokens -= 1.0
            return None
        step = 1.0 / self.rate
        first = now + (1.0 - self.tokens) * step  # when the bucket next holds a whole token
        self.promised = min(max(self.promised + step, first), now + MAX_RETRY_AFTER_S)
        wait = self.promised - now
        return round(min(MAX_RETRY_AFTER_S, wait * (0.75 + 0.5 * self.random())), 3)


class AddressRate:
    """New WebSocket connections per second from one client address: a token bucket per address
    of ``Settings.admit_address_rate`` a second, holding at most ``admit_address_burst`` (rate
    0: no limit). Checked before the process's own rate (``AdmissionRate``): one address looping
    connect-and-close is refused on its own, instead of spending the joins of every other viewer
    of the process. A refusal says when the address's bucket holds a token again.

    An address not seen for ``burst / rate`` seconds has a full bucket, the same as no entry:
    such entries are forgotten whenever the table has grown to twice what the last sweep kept
    (at least ``SWEEP_FLOOR``), so a sweep costs a connection O(1) over time."""

    SWEEP_FLOOR = 1024

    __slots__ = ("rate", "burst", "clock", "buckets", "swept_at")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when)
        self.swept_at = self.SWEEP_FLOOR

    def admit(self, address: str) -> float | None:
        """Take one connection from ``address``: None when admitted, else seconds until its
        bucket holds a token again."""
        if self.rate <= 0:
            return None
        now = self.clock()
        held = self.buckets.get(address)
        tokens = self.burst
        if held is not None:
            tokens = min(tokens, held[0] + (now - held[1]) * self.rate)
        if tokens > 0.999999:  # one whole token, give or take float rounding
            self.buckets[address] = (tokens - 1.0, now)
            if len(self.buckets) > self.swept_at:
                self._sweep(now)
            return None
        self.buckets[address] = (tokens, now)
        return round(min(MAX_RETRY_AFTER_S, (1.0 - tokens) / self.rate), 3)

    def _sweep(self, now: float) -> None:
        full = self.burst / self.rate
        kept = {a: b for a, b in self.buckets.items() if now - b[1] < full}
        self.buckets = kept
        self.swept_at = max(self.SWEEP_FLOOR, 2 * len(kept))
