"""Per-address limits: who a client really is behind proxies, and how many sockets it holds.

``client_ip`` believes ``X-Forwarded-For`` only when the TCP peer is a trusted proxy
(``Settings.trusted_proxies``), so a client cannot claim an address of its choosing to slip past
the connection cap. ``ConnectionCaps`` counts open WebSockets per address in this process.
"""

from __future__ import annotations

import ipaddress

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
