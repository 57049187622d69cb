"""The harness's reconnects (``--churn-rate``): one connection per viewer, however often the
schedule picks the same viewer."""

from __future__ import annotations

from typing import Any

from loadtest.viewer import SimViewer
from loadtest.worker import Worker, churn
from tests.liveclient import LiveClient
from tests.servers import SECRET
from tests.timeouts import eventually, scaled


async def test_a_viewer_picked_twice_in_one_step_reconnects_once(start_server: Any) -> None:
    """The traffic loop may pick one viewer twice in a step. Before, each pick started its own
    reconnect, both opened a connection, and the one left unclosed delivered every event a
    second time (duplicates in the soak's report under heavy churn)."""
    server = start_server(room_comment_cap=1000, user_comment_limit=1000)
    w = Worker(None, 0, {"port": server.port, "secret": SECRET})  # type: ignore[arg-type]
    w.room = "churn"
    viewer = SimViewer(w.tally, "twice")
    w.viewers.append(viewer)
    assert await w.open(viewer, scaled(10))
    await eventually(lambda: viewer.live, timeout=10)  # the snapshot
    first = viewer.ws

    assert churn(w, viewer) is True
    assert churn(w, viewer) is False  # the same step, the same viewer: nothing more
    assert w.tally.private["reconnect"] == 1
    await eventually(lambda: viewer.live and not viewer.reconnecting, timeout=10)  # resumed
    assert viewer.ws is not first and first is not None and first.closed

    talker = await LiveClient.connect(server.ws_url, "churn", "talker")
    try:
        for n in range(5):
            reply = await talker.command("comment", text=f"once {n}")
            assert reply["ok"] and not reply.get("shed"), reply
        head = reply["offset"]
        await eventually(lambda: viewer.last >= head, timeout=10)  # every comment
        assert w.tally.duplicated == 0 and w.tally.gaps == 0
        assert w.tally.delivered >= 5
        assert w.tally.resets == 0, "the resume named its epoch: served exactly, not reset"
        assert w.tally.bad_frames == 0
    finally:
        await talker.close()
        if viewer.ws is not None:
            viewer.ws.close()
