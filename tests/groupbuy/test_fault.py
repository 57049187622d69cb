"""Acceptance 3: a private Redis (AOF ``always``) killed and restarted in the middle of a
group-buy storm loses no acknowledged place and breaks no invariant."""

from __future__ import annotations

import asyncio
from typing import Any

from loadtest.keepalive import KeepAlive
from tests.flashsale.test_fault import AOF
from tests.groupbuy.conftest import GroupApi, deal_body
from tests.redis_servers import RedisProcess
from tests.servers import API_KEY
from tests.timeouts import eventually, scaled

BUYERS = 450


async def test_redis_restart_mid_storm(
    start_server: Any, private_redis: list[RedisProcess]
) -> None:
    """Places are answered ok or unavailable while Redis is down; each buyer retries its own
    request id until answered. Every ok survives the restart, in its group, and replays."""
    store = RedisProcess(*AOF).start()
    private_redis.append(store)
    server = start_server(
        engine="redis",
        redis_url=store.url,
        sweep_interval_s=0.1,
        max_conns_per_ip=0,
        admit_address_rate=0,
    )
    api = GroupApi(server.url)
    pool = await KeepAlive(server.host, server.port, {"Authorization": f"Bearer {API_KEY}"}).open()
    try:
        await api.create("f1", **deal_body(size=3, stock=900, fill_s=2.0), open=True)
        base = "/api/rooms/f1/deals/d1"
        acked: dict[str, str] = {}  # user -> group of its ok answer
        outage = asyncio.Event()
        unavailable = 0
        started: list[str] = []

        async def place(i: int) -> None:
            nonlocal unavailable
            user = f"u{i}"
            if i % 3 == 0 or not started:
                path = base + "/groups"
            elif i % 3 == 1:
                path = f"{base}/groups/{started[-1]}/join"
            else:
                path = base + "/match"

            async def answered() -> tuple[int, Any] | None:
                nonlocal unavailable
                status, body = await pool.call("POST", path, {"user": user, "request_id": "r"})
                if status == 503:
                    unavailable += 1
                    return None
                return status, body

            status, body = await eventually(answered, timeout=60, interval=0.05)
            if status == 200:
                acked[user] = body["group"]["id"]
                if path.endswith("/groups"):
                    started.append(body["group"]["id"])
                if len(acked) == BUYERS // 4:
                    outage.set()

        async def restart() -> None:
            await outage.wait()
            store.kill()
            await eventually(lambda: unavailable > 0, timeout=30)
            store.start()  # same port and directory: the AOF is loaded

        storm = asyncio.gather(*(place(i) for i in range(BUYERS)))
        await asyncio.wait_for(asyncio.gather(storm, restart()), scaled(90))
        assert unavailable > 0 and len(acked) > BUYERS // 4

        for user, group in acked.items():  # the same request id replays the same place
            status, body = await pool.call(
                "POST", base + "/groups", {"user": user, "request_id": "r"}
            )
            assert body["group"]["id"] == group, (user, status, body)
            members = {m["user"] for m in body["group"]["members"]}
            assert user in members, (user, body)

        async def settled() -> dict[str, Any] | None:
            audit = await api.audit("f1", "d1")
            return audit if audit["groups"]["open"] == 0 else None

        audit = await eventually(settled, timeout=30)
        assert audit["ok"], audit
        assert audit["reserved"] == 3 * audit["groups"]["formed"]
        assert sum(audit["groups"].values()) == len(set(acked.values()))
    finally:
        await pool.close()
        await api.close()
