"""One real server process on the memory engine: the basic comment round trip."""

from __future__ import annotations

from tests.liveclient import LiveClient


async def test_comment_reaches_every_viewer(start_server) -> None:  # type: ignore[no-untyped-def]
    """A comment from one viewer reaches the other, with an offset, after both got snapshots."""
    server = start_server()
    alice = await LiveClient.connect(server.ws_url, user="alice")
    bob = await LiveClient.connect(server.ws_url, user="bob")
    try:
        await alice.event("snapshot")
        await bob.event("snapshot")
        answer = await alice.command("comment", text="hello room")
        assert answer["ok"] is True
        seen = await bob.event("comment", text="hello room")
        assert seen["offset"] == answer["offset"]
        assert seen["user"]["id"] == "alice"
    finally:
        await alice.close()
        await bob.close()
