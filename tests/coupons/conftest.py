"""Coupon test helpers: two real nodes on one Redis, or on the 3-master Cluster."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from tests.cluster.redis_cluster import LocalCluster
from tests.servers import ServerProcess


@pytest.fixture(params=["redis", pytest.param("cluster", marks=pytest.mark.cluster)])
def two_nodes(
    request: pytest.FixtureRequest, start_servers: Callable[..., list[ServerProcess]]
) -> tuple[list[ServerProcess], Any]:
    """Two nodes on one Redis (or one Cluster), and a client of that Redis for the checks."""
    limits = {
        "sweep_interval_s": 0.1,
        "max_conns_per_ip": 0,
        "admit_address_rate": 0,
        "command_burst": 1000,
    }
    if request.param == "cluster":
        local: LocalCluster = request.getfixturevalue("cluster")
        where: dict[str, Any] = {
            "engine": "redis",
            "redis_cluster": True,
            "redis_url": local.url,
            "redis_prefix": "lrc-" + uuid.uuid4().hex[:10],
        }
        client: Any = RedisCluster.from_url(local.url.split(",")[0])
    else:
        where = request.getfixturevalue("redis_server_settings")
        client = aioredis.Redis.from_url(str(where["redis_url"]))
    nodes = start_servers(2, **where, **limits)
    return nodes, (client, str(where["redis_prefix"]))
