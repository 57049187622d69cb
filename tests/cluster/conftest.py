"""A real three-master Redis Cluster for the tests of this directory, and engines on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from liveroom.engine.base import Engine
from tests.cluster.redis_cluster import LocalCluster
from tests.conftest import make_settings


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """Three masters, one replica each; shared by the tests that leave the topology alone."""
    local = LocalCluster(masters=3, replicas=1).start()
    try:
        yield local
    finally:
        local.close()


@pytest.fixture(params=["cluster"])
def engine_kind(request: pytest.FixtureRequest) -> str:
    """Here the conformance suites run against the cluster engine only."""
    return str(request.param)


@pytest.fixture
async def engine(cluster: LocalCluster) -> AsyncIterator[Engine]:
    """A ``RedisEngine`` on the local cluster, under a key prefix of its own."""
    from liveroom.engine.redis import RedisEngine

    eng = RedisEngine(
        make_settings(
            engine="redis",
            redis_cluster=True,
            redis_url=cluster.url,
            redis_prefix="lrc-" + uuid.uuid4().hex[:10],
            history_len=50,
            node_ttl_s=1.0,
        )
    )
    await eng.open()
    try:
        yield eng
    finally:
        await eng.close()
