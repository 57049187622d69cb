"""Group buys through a real server: WebSocket commands, room events, the snapshot, share links
over HTTP, payment and the analytics funnel."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.flashsale.conftest import bearer
from tests.groupbuy.conftest import GroupApi, deal_body
from tests.liveclient import LiveClient
from tests.servers import ServerProcess
from tests.timeouts import eventually


async def viewer(server: ServerProcess, room: str, user: str) -> LiveClient:
    client = await LiveClient.connect(server.ws_url, room=room, user=user)
    await client.event("snapshot")
    return client


async def test_two_viewers_form_a_group_and_both_see_it(
    server: ServerProcess, api: GroupApi, room: str
) -> None:
    """One starts, the other joins by id: the filler's reply has its order, both get
    group_formed at once with every member's order, and the progress event said "needs 1"."""
    await api.create(room, **deal_body(size=2, stock=10, payment_s=60), open=True)
    ann, bob = await viewer(server, room, "ann"), await viewer(server, room, "bob")
    try:
        started = await ann.command("start_group", deal="d1", request_id="r1")
        assert started["ok"] and started["group"]["needs"] == 1, started
        assert started["formed"] is False and started["order"] is None
        gid = started["group"]["id"]
        progress = await bob.event("groups")
        assert [g["id"] for g in progress["groups"]] == [gid]
        assert progress["groups"][0]["needs"] == 1 and "还差 1 人" in progress["groups"][0]["text"]
        joined = await bob.command("join_group", deal="d1", group=gid, request_id="r1")
        assert joined["ok"] and joined["formed"] is True and joined["order"], joined
        for client in (ann, bob):
            formed = await client.event("group_formed")
            assert formed["group"]["id"] == gid and formed["group"]["status"] == "formed"
            assert set(formed["group"]["orders"]) == {"ann", "bob"}
        assert formed["group"]["orders"]["bob"] == joined["order"]
        order = await api.get(
            f"/api/rooms/{room}/deals/d1/orders/{joined['order']}", bearer("bob", room)
        )
        assert order.json()["order"]["price"] == 990 and order.json()["order"]["discount"] == 0
        audit = await api.audit(room, "d1")
        assert audit["ok"] and audit["reserved"] == 2 and audit["groups"]["formed"] == 1
        theirs = formed["group"]["orders"]["ann"]
        assert not (await bob.command("cancel_group_order", deal="d1", order=theirs))["ok"]
        cancelled = await bob.command("cancel_group_order", deal="d1", order=joined["order"])
        assert cancelled["ok"] and cancelled["order"]["status"] == "cancelled"
        assert cancelled["stock"] == 9
        audit = await api.audit(room, "d1")
        assert audit["ok"] and (audit["reserved"], audit["cancelled"]) == (1, 1)
    finally:
        await asyncio.gather(ann.close(), bob.close())


async def test_the_snapshot_shows_the_deal_and_its_open_groups(
    server: ServerProcess, api: GroupApi, room: str
) -> None:
    """A late joiner's snapshot has the deal with its open groups, fullest first."""
    await api.create(room, **deal_body(size=3, stock=10, limit=2), open=True)
    first = (await api.place(room, "d1", "a", "k")).json()["group"]["id"]
    second = (await api.place(room, "d1", "b", "k")).json()["group"]["id"]
    assert (await api.place(room, "d1", "c", "k", second)).status_code == 200
    late = await LiveClient.connect(server.ws_url, room=room, user="late")
    try:
        snapshot = await late.event("snapshot")
        (deal,) = snapshot["deals"]
        assert deal["id"] == "d1" and deal["stock"] == 7 and deal["size"] == 3
        assert [g["id"] for g in deal["groups"]] == [second, first]
        assert [g["needs"] for g in deal["groups"]] == [1, 2]
    finally:
        await late.close()


async def test_a_friend_outside_the_room_joins_from_a_share_link(api: GroupApi, room: str) -> None:
    """With a viewer token for the room and no WebSocket, the friend reads the card and joins;
    a token for another room is refused."""
    await api.create(room, **deal_body(size=2, stock=4), open=True)
    gid = (await api.place(room, "d1", "host-fan", "k")).json()["group"]["id"]
    card = await api.get(f"/api/rooms/{room}/deals/d1/groups/{gid}", bearer("friend", room))
    assert card.status_code == 200
    assert card.json()["group"]["needs"] == 1 and card.json()["deal"]["size"] == 2
    other = await api.post(
        f"/api/rooms/{room}/deals/d1/groups/{gid}/join", bearer("friend", "elsewhere"),
        request_id="k",
    )  # fmt: skip
    assert other.status_code == 403
    joined = await api.place(room, "d1", "friend", "k", gid)
    assert joined.status_code == 200 and joined.json()["formed"] is True


async def test_match_joins_the_fullest_group(api: GroupApi, room: str) -> None:
    """Matching over HTTP picks the fullest open group; nothing open answers no_open_group."""
    await api.create(room, **deal_body(size=4, stock=20), open=True)
    empty = await api.place(room, "d1", "m0", "k", "match")
    assert empty.status_code == 409 and empty.json()["error"]["code"] == "no_open_group"
    await api.place(room, "d1", "a", "k")
    fuller = (await api.place(room, "d1", "b", "k")).json()["group"]["id"]
    await api.place(room, "d1", "c", "k", fuller)
    matched = await api.place(room, "d1", "m1", "k", "match")
    assert matched.json()["group"]["id"] == fuller and matched.json()["group"]["needs"] == 1


async def test_progress_events_are_batched(server: ServerProcess, api: GroupApi, room: str) -> None:
    """Forty places in a burst give far fewer ``groups`` events than places, and the last one
    carries the final stock."""
    await api.create(room, **deal_body(size=50, stock=100), open=True)
    watcher = await viewer(server, room, "watch")
    try:
        gid = (await api.place(room, "d1", "u0", "k")).json()["group"]["id"]
        answers = await asyncio.gather(
            *(api.place(room, "d1", f"u{i}", "k", gid) for i in range(1, 40))
        )
        assert all(a.status_code == 200 for a in answers)
        final = await watcher.wait(
            lambda: next((e for e in watcher.of_type("groups") if e["deal"]["stock"] == 60), None),
            timeout=10,
        )
        assert final["groups"][0]["needs"] == 10
        assert len(watcher.of_type("groups")) < 20
    finally:
        await watcher.close()


async def test_payment_reaches_analytics_and_the_funnel(
    server: ServerProcess, api: GroupApi, room: str
) -> None:
    """A confirmed group order is paid once; the host's report counts the group funnel."""
    await api.create(room, **deal_body(size=2, stock=10, payment_s=60), open=True)
    gid = (await api.place(room, "d1", "a", "k")).json()["group"]["id"]
    order = (await api.place(room, "d1", "b", "k", gid)).json()["order"]
    paid = await api.post(f"/api/rooms/{room}/deals/d1/orders/{order}/confirm")
    assert paid.status_code == 200 and paid.json()["order"]["status"] == "paid"
    again = await api.post(f"/api/rooms/{room}/deals/d1/orders/{order}/confirm")
    assert again.status_code == 200
    other = (await api.place(room, "d1", "c", "k")).json()["group"]["id"]
    assert other

    async def funnel() -> dict[str, Any] | None:
        report = (await api.get(f"/api/rooms/{room}/report")).json()
        groups = report.get("groups", {})
        return report if groups.get("formed") == 1 and groups.get("started") == 2 else None

    report = await eventually(funnel, timeout=10)
    assert report["groups"]["joined"] == 1 and report["groups"]["failed"] == 0
    assert report["money"]["gmv"] == 990
    audit = await api.audit(room, "d1")
    assert audit["ok"] and audit["paid"] == 1 and audit["held"] == 1


async def claim(api: GroupApi, room: str, user: str, **terms: Any) -> str:
    """A new coupon batch in ``room`` (``terms``), and ``user``'s claimed coupon of it."""
    issued = await api.post(f"/api/rooms/{room}/coupons", count=10, **terms)
    assert issued.status_code == 200, issued.text
    batch = issued.json()["batch"]["id"]
    claimed = await api.post(f"/api/rooms/{room}/coupons/{batch}/claim", bearer(user, room))
    assert claimed.status_code == 200, claimed.text
    return str(claimed.json()["coupon"]["id"])


async def test_a_coupon_named_with_a_place_reduces_the_members_order(
    server: ServerProcess, api: GroupApi, room: str
) -> None:
    """Ann starts with her 300-fen coupon over WebSocket: the reply shows the discount; when
    Bob's join forms the group, Ann hears her order privately (690 fen), and paying it counts
    the total after the discount; a coupon named by someone else is refused (not_yours), over
    WebSocket and HTTP."""
    await api.create(room, **deal_body(size=2, stock=10, payment_s=60), open=True)
    mine = await claim(api, room, "ann", value=300)
    theirs = await claim(api, room, "bob", value=300)
    ann = await viewer(server, room, "ann")
    try:
        refused = await ann.command("start_group", deal="d1", request_id="r0", coupon=theirs)
        assert refused["ok"] is False and refused["error"]["code"] == "not_yours", refused
        started = await ann.command("start_group", deal="d1", request_id="r1", coupon=mine)
        assert started["ok"] and (started["coupon"], started["discount"]) == (mine, 300)
        gid = started["group"]["id"]
        stolen = await api.place(room, "d1", "bob", "r0", gid, coupon=mine)
        assert stolen.status_code == 403 and stolen.json()["error"]["code"] == "not_yours"
        joined = await api.place(room, "d1", "bob", "r1", gid)
        assert joined.status_code == 200 and joined.json()["discount"] == 0, joined.text
        told = await ann.event("group_order")
        order = told["order"]
        assert (order["coupon"], order["discount"], order["total"]) == (mine, 300, 690)
        assert order["coupon_refused"] is None and order["user"] == "ann"
        paid = await api.post(f"/api/rooms/{room}/deals/d1/orders/{order['id']}/confirm")
        assert paid.status_code == 200 and paid.json()["order"]["total"] == 690, paid.text
        wallet = await api.get(f"/api/rooms/{room}/coupon-wallets/ann")
        (coupon,) = [c for c in wallet.json()["coupons"] if c["id"] == mine]
        assert (coupon["status"], coupon["order"]) == ("used", order["id"])
        assert (await api.audit(room, "d1"))["priced"] is True
    finally:
        await ann.close()
