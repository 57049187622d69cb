"""A keyword red packet created on one node is unlocked by the keyword comment on another node
at once (issue 19, the same rule as lucky bags): a comment posted after the packet's ``packet``
event is checked against it on every node."""

from __future__ import annotations

from tests.liveclient import LiveClient


async def test_keyword_comment_on_another_node_right_after_the_packet_unlocks(  # type: ignore[no-untyped-def]
    start_server, redis_server_settings
) -> None:
    """Create on node A; the keyword comment on node B, sent as soon as A answers, unlocks."""
    a, b = start_server(**redis_server_settings), start_server(**redis_server_settings)
    for round_ in range(3):
        room = f"pk{round_}"
        host = await LiveClient.connect(a.ws_url, room, "hana", role="host")
        viewer = await LiveClient.connect(b.ws_url, room, f"v{round_}")
        try:
            await host.event("snapshot")
            await viewer.event("snapshot")
            # B reads the room's keywords for this comment: none, and B keeps that a second
            assert (await viewer.command("comment", text=f"warm up {round_}"))["ok"] is True
            made = await host.command("packet_create", total=300, count=3, keyword=f"口令{round_}")
            assert made["ok"] is True, made
            packet = made["packet"]["id"]
            said = await viewer.command("comment", text=f"口令{round_}")
            assert said["ok"] is True, said
            await viewer.event("packet_unlocked", packet=packet, timeout=5)
            grabbed = await viewer.command("packet_grab", packet=packet)
            assert grabbed["ok"] is True, grabbed
        finally:
            await host.close()
            await viewer.close()
