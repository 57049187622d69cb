"""The suite's own servers start on another port when the one picked free was taken before they
could bind it (under load, 83 cluster tests once errored on ``redis-server ... exited at start``).
"""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.cluster.redis_cluster import ClusterNode
from tests.processes import ExitedAtStart
from tests.redis_servers import RedisProcess, reachable
from tests.servers import ServerProcess


def test_a_private_redis_whose_port_was_taken_starts_on_another() -> None:
    """Something listens on the port a RedisProcess picked: it starts, and answers, elsewhere."""
    proc = RedisProcess()
    taken = proc.port
    try:
        with socket.create_server(("127.0.0.1", taken)):
            proc.start()
        assert proc.port != taken and reachable(proc.url)
    finally:
        proc.close()


def test_a_cluster_node_whose_bus_port_was_taken_starts_on_others() -> None:
    """A cluster node whose bus port is taken starts with new ports."""
    node = ClusterNode()
    taken = node.bus_port
    try:
        with socket.create_server(("127.0.0.1", taken)):
            node.start()
        assert node.bus_port != taken and reachable(node.url)
    finally:
        node.close()


def test_a_restart_keeps_its_port_even_when_taken() -> None:
    """A redis-server that has run once is restarted on its own port, or not at all: its
    clients know that port."""
    proc = RedisProcess()
    try:
        proc.start()
        proc.kill()
        port = proc.port
        with socket.create_server(("127.0.0.1", port)):
            with pytest.raises(ExitedAtStart, match="(?i)address already in use"):
                proc.start()
        assert proc.port == port
    finally:
        proc.close()


def test_a_server_whose_port_was_taken_starts_on_another() -> None:
    """Something listens on the port a ServerProcess picked: it starts, and answers, elsewhere."""
    server = ServerProcess()
    taken = server.port
    try:
        with socket.create_server(("127.0.0.1", taken)):
            server.start()
        assert server.port != taken
        assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200
    finally:
        server.stop()
