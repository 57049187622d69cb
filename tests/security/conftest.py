"""Servers shared by a module's security tests: one process per configuration, not per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.servers import ServerProcess

#: the origin the guarded server allows
SHOP_ORIGIN = "https://shop.example"


@pytest.fixture(scope="package")
def module_servers() -> Iterator[Callable[..., ServerProcess]]:
    """Start server processes that live for the whole package: ``start(**settings)``."""
    started: list[ServerProcess] = []

    def start(**settings: object) -> ServerProcess:
        server = ServerProcess(**settings).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="package")
def guarded(module_servers: Callable[..., ServerProcess]) -> ServerProcess:
    """A memory-engine server with an origin allowlist, a small command budget and frame cap."""
    return module_servers(
        allowed_origins=SHOP_ORIGIN,
        command_rate=5,
        command_burst=10,
        max_frame_bytes=4096,
        max_conns_per_ip=0,
        admit_address_rate=0,
    )
