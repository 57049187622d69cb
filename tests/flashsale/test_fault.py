"""A private Redis restarted mid-sale: buys answer unavailable, then resume with nothing lost."""

from __future__ import annotations

from tests.flashsale.conftest import Api, sale_body
from tests.liveclient import LiveClient
from tests.redis_servers import RedisProcess
from tests.timeouts import eventually

#: what a sale needs from Redis persistence (README, "Flash sales and Redis persistence")
AOF = ("--appendonly", "yes", "--appendfsync", "always")


async def test_redis_restart_mid_sale(start_server, private_redis: list[RedisProcess]) -> None:  # type: ignore[no-untyped-def]
    """Outage buys are unavailable; after restart scripts reload and acked orders are kept."""
    store = RedisProcess(*AOF).start()
    private_redis.append(store)
    server = start_server(engine="redis", redis_url=store.url, sweep_interval_s=0.2)
    api = Api(server.url)
    viewer = await LiveClient.connect(server.ws_url, room="f1", user="v1")
    try:
        created = await api.create("f1", **sale_body(stock=20, limit=20), open=True)
        assert created.status_code == 200, created.text
        await viewer.event("snapshot")
        acked = []
        for i in range(5):
            reply = await viewer.command("buy", sale="s1", quantity=1, request_id=f"before{i}")
            assert reply["ok"], reply
            acked.append(reply["order"])
        http = await api.buy("f1", "s1", "v2", "before")
        assert http.status_code == 200
        acked.append(http.json()["order"])

        store.kill()
        during = await viewer.command("buy", sale="s1", quantity=1, request_id="during")
        assert during["error"]["code"] == "unavailable" and during["error"]["retry"] is True
        down = await api.buy("f1", "s1", "v2", "during")
        assert down.status_code == 503 and down.json()["error"]["code"] == "unavailable"
        assert (await viewer.command("ping"))["ok"]  # the viewer stays connected

        store.start()  # same port, same directory: the AOF is loaded, the script cache is empty

        async def buys_again() -> dict[str, object] | None:
            reply = await viewer.command("buy", sale="s1", quantity=1, request_id="during")
            return reply if reply["ok"] else None

        after = await eventually(buys_again, timeout=15, interval=0.1)
        assert after["order"] not in acked
        again = await viewer.command("buy", sale="s1", quantity=1, request_id="before0")
        assert again.get("order") == acked[0], again  # answers survived the restart too
        report = await api.audit("f1", "s1")
        assert report["ok"], report
        assert report["orders"] == len(acked) + 1 and report["stock"] == 20 - len(acked) - 1
        for order in acked:
            seen = await api.get(f"/api/rooms/f1/sales/s1/orders/{order}")
            assert seen.json()["order"]["status"] == "reserved"
    finally:
        await viewer.close()
        await api.close()
