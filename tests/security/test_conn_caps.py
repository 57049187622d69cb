"""Per-address connection caps, and X-Forwarded-For believed only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from liveroom.config import Settings
from liveroom.errors import CloseCode
from liveroom.limits import ConnectionCaps, client_ip
from tests.liveclient import LiveClient
from tests.servers import ServerProcess

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        pytest.param("203.0.113.9", "1.2.3.4", "203.0.113.9", id="untrusted-peer-header-ignored"),
        pytest.param("10.0.0.2", "198.51.100.7", "198.51.100.7", id="trusted-peer"),
        pytest.param("10.0.0.2", "6.6.6.6, 198.51.100.7", "198.51.100.7", id="forged-left-part"),
        pytest.param("10.0.0.2", "198.51.100.7, 10.0.0.3", "198.51.100.7", id="proxy-chain"),
        pytest.param("10.0.0.2", "10.0.0.4, 10.0.0.3", "10.0.0.4", id="all-trusted"),
        pytest.param("10.0.0.2", "not-an-ip", "10.0.0.2", id="garbage"),
        pytest.param("10.0.0.2", "", "10.0.0.2", id="no-header"),
        pytest.param("10.0.0.2", "2001:db8::1", "2001:db8::1", id="ipv6"),
        pytest.param(None, "1.2.3.4", "unknown", id="no-peer"),
    ],
)
def test_client_ip(peer: str | None, forwarded: str, expected: str) -> None:
    """The client is the first untrusted hop from the right, never a forged left entry."""
    assert client_ip(peer, forwarded, PROXIES) == expected


def test_caps_count_and_release() -> None:
    """A cap of two refuses the third connection until one is released; 0 means no cap."""
    caps = ConnectionCaps(Settings(max_conns_per_ip=2))
    assert caps.acquire("a") and caps.acquire("a") and not caps.acquire("a")
    assert caps.acquire("b")
    caps.release("a")
    assert caps.acquire("a")
    for address in ("a", "a", "b"):
        caps.release(address)
    assert caps.counts == {}
    uncapped = ConnectionCaps(Settings(max_conns_per_ip=0))
    assert all(uncapped.acquire("a") for _ in range(1000))


async def _open(server: ServerProcess, n: int, **connect: object) -> list[LiveClient]:
    clients = []
    for i in range(n):
        client = await LiveClient.connect(server.ws_url, user=f"u{i}", **connect)  # type: ignore[arg-type]
        clients.append(client)
        await client.event("snapshot")
    return clients


async def test_too_many_connections_from_one_address(
    module_servers: Callable[..., ServerProcess],
) -> None:
    """Past ``max_conns_per_ip`` a connection is closed with 4030; a freed slot is reusable."""
    server = module_servers(max_conns_per_ip=3)
    held = await _open(server, 3)
    try:
        # A forged X-Forwarded-For from an untrusted peer changes nothing.
        extra = await LiveClient.connect(
            server.ws_url, user="x", additional_headers={"X-Forwarded-For": "198.51.100.1"}
        )
        assert (await extra.closed_with())[0] == CloseCode.TOO_MANY_CONNECTIONS
        assert extra.of_type("error")[0]["code"] == "rate_limited"
        await extra.close()
        await held.pop().close()
        again = await LiveClient.connect(server.ws_url, user="y")
        held.append(again)
        await again.event("snapshot")
    finally:
        for client in held:
            await client.close()


async def test_forwarded_for_counts_per_client_behind_a_trusted_proxy(
    module_servers: Callable[..., ServerProcess],
) -> None:
    """Behind a trusted proxy each forwarded client has its own cap."""
    server = module_servers(max_conns_per_ip=2, trusted_proxies="127.0.0.1")
    first = {"additional_headers": {"X-Forwarded-For": "198.51.100.1"}}
    second = {"additional_headers": {"X-Forwarded-For": "198.51.100.2"}}
    held = await _open(server, 2, **first) + await _open(server, 2, **second)
    try:
        extra = await LiveClient.connect(server.ws_url, user="x", **first)  # type: ignore[arg-type]
        assert (await extra.closed_with())[0] == CloseCode.TOO_MANY_CONNECTIONS
        await extra.close()
    finally:
        for client in held:
            await client.close()
