"""Red packets through the client: grabs, the money check, keywords, closing with a refund."""

from __future__ import annotations

import pytest

from liveroom.client import Conflict, Forbidden, LiveroomClient, PacketCode
from tests.client.conftest import watch
from tests.liveclient import LiveClient
from tests.servers import ServerProcess


async def test_grabs_add_up_in_the_audit(lr: LiveroomClient, room: str) -> None:
    """Two grabs take two packets; the host's view balances to the total."""
    packet = (await lr.packets.create(room, total=1000, count=3, title="开播红包"))["id"]
    first = await lr.packets.grab(room, packet, user="u1", name="小王")
    second = await lr.packets.grab(room, packet, user="u2")
    assert (first["left"], second["left"]) == (2, 1)
    view = await lr.packets.get(room, packet)
    assert view["audit"]["balanced"] is True
    assert view["grabbers"] == {"u1": first["amount"], "u2": second["amount"]}
    assert [p["id"] for p in await lr.packets.list(room)] == [packet]


async def test_second_grab_raises_already_grabbed(lr: LiveroomClient, room: str) -> None:
    """A user's second grab raises Conflict coded already_grabbed, with the first amount."""
    packet = (await lr.packets.create(room, total=500, count=5))["id"]
    grabbed = await lr.packets.grab(room, packet, user="u1")
    with pytest.raises(Conflict) as caught:
        await lr.packets.grab(room, packet, user="u1")
    assert caught.value.code is PacketCode.ALREADY_GRABBED
    assert caught.value.details["amount"] == grabbed["amount"]


async def test_close_refunds_what_was_left(lr: LiveroomClient, room: str) -> None:
    """Closing early answers the refund, total less what was grabbed."""
    packet = (await lr.packets.create(room, total=900, count=3))["id"]
    grabbed = await lr.packets.grab(room, packet, user="u1")
    closed = await lr.packets.close(room, packet)
    assert closed["refund"] == {"fen": 900 - grabbed["amount"], "packets": 2}
    assert await lr.packets.list(room) == []


async def test_keyword_packet_needs_the_comment(
    server: ServerProcess, lr: LiveroomClient, room: str, viewers: list[LiveClient]
) -> None:
    """A keyword packet raises Forbidden keyword_required until the user comments it."""
    packet = (await lr.packets.create(room, total=100, count=1, keyword="主播最帅"))["id"]
    with pytest.raises(Forbidden) as caught:
        await lr.packets.grab(room, packet, user="v1")
    assert caught.value.code is PacketCode.KEYWORD_REQUIRED
    assert caught.value.details["keyword"] == "主播最帅"
    viewer = await watch(server, room, lr.tokens.mint("v1", room=room), viewers)
    assert (await viewer.command("comment", text="主播最帅"))["ok"] is True
    await viewer.event("packet_unlocked")
    assert (await lr.packets.grab(room, packet, user="v1"))["amount"] == 100
