"""One real server process on the memory engine: the basic comment round trip."""

from __future__ import annotations

import os

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


async def test_one_process_server_runs_one_thread(start_server) -> None:  # type: ignore[no-untyped-def]
    """``liveroom serve`` binds its socket itself, so no resolver threads join the process:
    with viewers connected and a comment through, the process still has a single thread."""
    server = start_server()
    assert server.proc is not None
    viewers = [await LiveClient.connect(server.ws_url, user=f"v{i}") for i in range(3)]
    try:
        for viewer in viewers:
            await viewer.event("snapshot")
        assert (await viewers[0].command("comment", text="one thread"))["ok"] is True
        for viewer in viewers[1:]:
            await viewer.event("comment", text="one thread")
        threads = sorted(os.listdir(f"/proc/{server.proc.pid}/task"))
        assert threads == [str(server.proc.pid)], threads
    finally:
        for viewer in viewers:
            await viewer.close()
