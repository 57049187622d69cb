"""A viewer that stops reading is closed with 4008 and never holds the room back."""

from __future__ import annotations

import asyncio

from tests.liveclient import LiveClient, token
from tests.timeouts import eventually, scaled
from tests.wsraw import RawSocketClient

COMMENTS = 1500
TEXT = "慢" * 1900  # ~6 kB a comment: 9 MB outruns the kernel buffers


async def test_slow_viewer_is_closed_and_others_keep_pace(start_server) -> None:  # type: ignore[no-untyped-def]
    """One viewer stops reading; the others get every comment promptly; it gets close 4008."""
    server = start_server(
        outgoing_soft_kb=256,
        outgoing_hard_kb=1_000_000,  # so the grace period, not the hard bound, closes it
        slow_grace_s=2,
        user_comment_limit=100_000,
        room_comment_cap=100_000,
        command_rate=100_000,
        command_burst=100_000,
        max_frame_bytes=65536,
        comment_max_len=2000,
    )
    slow = RawSocketClient(server.port, f"/ws?room=slow&token={token('slowpoke', 'slow')}")
    # A tick may batch a few hundred big comments: allow frames of any size on the good ones.
    good = [
        await LiveClient.connect(server.ws_url, "slow", f"good{i}", max_size=None) for i in range(2)
    ]
    writer = await LiveClient.connect(server.ws_url, "slow", "writer", max_size=None)
    for client in (*good, writer):
        await client.event("snapshot")

    for start in range(0, COMMENTS, 10):  # pipelined, 10 in flight at a time
        ids = [f"k{n}" for n in range(start, start + 10)]
        for rid in ids:
            await writer.send_raw(f'{{"type":"comment","id":"{rid}","text":"{rid}{TEXT}"}}')
        await writer.wait(lambda ids=ids: all(rid in writer.replies for rid in ids), timeout=10)
    assert all(writer.replies[f"k{n}"]["ok"] for n in range(COMMENTS))

    for viewer in good:
        await viewer.wait(lambda v=viewer: len(v.of_type("comment")) >= COMMENTS, timeout=10)
        lags = [e["_arrived"] - e["ts"] for e in viewer.of_type("comment")]
        assert max(lags) < scaled(1.5), f"a good viewer waited {max(lags):.2f}s for a comment"
        assert not viewer.of_type("skipped")

    await eventually(lambda: server.metric("liveroom_slow_consumer_closes_total") >= 1, timeout=10)
    code, frames = await asyncio.to_thread(slow.read_until_close, scaled(5))
    slow.close()
    assert code == 4008
    assert frames < COMMENTS, "the slow viewer was sent less than everything"
    # the frames it did get parsed whole, though its socket filled under direct sends
    assert server.metric("liveroom_short_sends_total") >= 1
    for client in (*good, writer):
        await client.close()
