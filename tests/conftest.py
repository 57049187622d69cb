"""Shared fixtures: real Redis, engines of each kind (memory, Redis, Redis Cluster), real server
processes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from liveroom.config import Settings
from liveroom.engine.base import Engine
from tests.cluster.redis_cluster import LocalCluster
from tests.redis_servers import RedisProcess, no_redis, reachable
from tests.servers import API_KEY, SECRET, ServerProcess, StartServer

SHARED_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The machine's Redis, or a private one when it has none."""
    if reachable(SHARED_REDIS):
        yield SHARED_REDIS
        return
    proc = RedisProcess()
    proc.start()
    try:
        yield proc.url
    finally:
        proc.close()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards."""
    name = "lrt-" + uuid.uuid4().hex[:10]
    yield name
    delete_prefix(redis_url, name)


def delete_prefix(redis_url: str, name: str) -> None:
    """Delete every key under ``name``; a Redis that is gone has nothing left to delete."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    except redis.RedisError:
        pass
    finally:
        client.close()


def make_settings(**overrides: object) -> Settings:
    base: dict[str, object] = {"secret": SECRET, "api_key": API_KEY, "demo": False}
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: runs against a local Redis Cluster")


#: ``engine_kind`` for a module whose tests must also hold on a Redis Cluster (the conformance
#: suites): ``pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)``.
#: There a script whose keys straddle slots fails with CROSSSLOT, and a room event sent with
#: PUBLISH instead of SPUBLISH never reaches the sharded subscriber. ``-m cluster`` selects the
#: cluster runs with the rest of the cluster suite (tests/cluster), ``-m "not cluster"`` skips them.
EVERY_ENGINE = ["memory", "redis", pytest.param("cluster", marks=pytest.mark.cluster)]


@pytest.fixture(params=["memory", "redis"])
def engine_kind(request: pytest.FixtureRequest) -> str:
    """Which engine ``engine`` opens: memory and redis, or ``EVERY_ENGINE`` where a module asks."""
    return str(request.param)


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """Three masters, one replica each, started when a test first asks; shared by the tests
    that leave the topology alone."""
    local = LocalCluster(masters=3, replicas=1).start()
    try:
        yield local
    finally:
        local.close()


@pytest.fixture
async def engine(engine_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Engine]:
    """An opened engine of the kind asked; the Redis ones under a key prefix of their own."""
    if engine_kind == "memory":
        from liveroom.engine.memory import MemoryEngine

        eng: Engine = MemoryEngine(make_settings(history_len=50, node_ttl_s=1.0))
    else:
        from liveroom.engine.redis import RedisEngine

        where: dict[str, object]
        if engine_kind == "cluster":
            local: LocalCluster = request.getfixturevalue("cluster")
            # no clean-up: the cluster's keys go with it at the end of the session
            prefix = "lrc-" + uuid.uuid4().hex[:10]
            where = {"redis_cluster": True, "redis_url": local.url, "redis_prefix": prefix}
        else:
            url = request.getfixturevalue("redis_url")
            if not reachable(url):
                no_redis(url)
            where = {"redis_url": url, "redis_prefix": request.getfixturevalue("prefix")}
        eng = RedisEngine(make_settings(engine="redis", history_len=50, node_ttl_s=1.0, **where))
    await eng.open()
    try:
        yield eng
    finally:
        await eng.close()


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """The liveroom processes a test started; all are stopped afterwards."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()
    # a server stopped after the ``prefix`` fixture's own clean-up (fixtures end in reverse
    # order) may have written keys since: a pulse, an online count. (A cluster's URL lists
    # its seed nodes; the cluster tests' own Redis goes away with them.)
    for server in started:
        settings = server.settings
        if (
            "redis_prefix" in settings
            and "redis_url" in settings
            and not settings.get("redis_cluster")
        ):
            delete_prefix(str(settings["redis_url"]), str(settings["redis_prefix"]))


@pytest.fixture
def start_server(servers: list[ServerProcess]) -> StartServer:
    """``start(**settings)``: a liveroom process, started and ready; stopped after the test."""

    def start(**settings: object) -> ServerProcess:
        server = ServerProcess(**settings).start()
        servers.append(server)
        return server

    return start


@pytest.fixture
def start_servers(servers: list[ServerProcess]) -> Callable[..., list[ServerProcess]]:
    """``start(count, **settings)``: ``count`` processes with the same settings, started side by
    side (a node's start is mostly its imports: two take little longer than one); stopped after
    the test."""

    def start(count: int, **settings: object) -> list[ServerProcess]:
        made = [ServerProcess(**settings) for _ in range(count)]
        servers.extend(made)  # stopped afterwards, also when one of them fails to start
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(ServerProcess.start, made))
        return made

    return start


@pytest.fixture
def redis_server_settings(redis_url: str, prefix: str) -> dict[str, object]:
    """Settings for server processes sharing the test's Redis and key prefix."""
    return {"engine": "redis", "redis_url": redis_url, "redis_prefix": prefix}


@pytest.fixture
def private_redis() -> Iterator[list[RedisProcess]]:
    """Private redis-server processes a test may kill and restart; closed afterwards."""
    procs: list[RedisProcess] = []
    yield procs
    for proc in procs:
        proc.close()


__all__ = ["API_KEY", "EVERY_ENGINE", "SECRET", "make_settings"]
