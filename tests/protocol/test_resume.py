"""Resume: a reconnecting viewer gets exactly what it missed, or a snapshot flagged ``reset``."""

from __future__ import annotations

import asyncio

import pytest

from tests.liveclient import LiveClient

COMMENTS = 120


def _comment_offsets(client: LiveClient) -> list[int]:
    return [e["offset"] for e in client.events if e.get("type") == "comment"]


@pytest.mark.parametrize("engine", ["memory", "redis"])
async def test_resume_after_dropped_connection_misses_nothing(
    engine: str, start_server, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    """Kill a viewer mid-stream, reconnect with its offset: no event missing, none twice."""
    redis = engine == "redis"
    settings = request.getfixturevalue("redis_server_settings") if redis else {"engine": engine}
    server = start_server(
        user_comment_limit=10_000,
        room_comment_cap=10_000,
        command_rate=1000,
        command_burst=1000,
        **settings,
    )
    writer = await LiveClient.connect(server.ws_url, "resume", "writer")
    viewer = await LiveClient.connect(server.ws_url, "resume", "viewer")
    await writer.event("snapshot")
    await viewer.event("snapshot")
    sent: list[int] = []
    dropped = asyncio.Event()

    async def write() -> None:
        for n in range(COMMENTS):
            answer = await writer.command("comment", text=f"c{n}")
            assert answer["ok"] is True, answer
            sent.append(answer["offset"])
            if n == COMMENTS // 3:
                await dropped.wait()  # keep writing only once the viewer is gone

    task = asyncio.create_task(write())
    await viewer.wait(lambda: len(_comment_offsets(viewer)) >= COMMENTS // 4)
    before = _comment_offsets(viewer)
    viewer.ws.transport.abort()
    await viewer.closed_with()
    dropped.set()
    await writer.wait(lambda: len(sent) >= COMMENTS // 2)  # comments flow while it is away

    again = await LiveClient.connect(server.ws_url, "resume", "viewer", offset=before[-1])
    await task
    await again.wait(lambda: _comment_offsets(again) and _comment_offsets(again)[-1] >= sent[-1])
    resumed = await again.event("resumed")
    assert not again.of_type("snapshot"), "history still reaches back: no snapshot expected"
    after = _comment_offsets(again)
    seen = before + after
    assert len(seen) == len(set(seen)), "duplicated events"
    assert sorted(seen) == sorted(sent), "missing events"
    assert seen == sorted(seen), "events out of offset order"
    assert resumed["offset"] >= before[-1]
    await writer.close()
    await again.close()


async def test_resume_older_than_history_gets_reset_snapshot(start_server) -> None:  # type: ignore[no-untyped-def]
    """An offset older than the kept history yields a snapshot with ``reset: true``."""
    server = start_server(
        history_len=10, user_comment_limit=10_000, room_comment_cap=10_000, command_rate=1000
    )
    writer = await LiveClient.connect(server.ws_url, "old", "writer")
    viewer = await LiveClient.connect(server.ws_url, "old", "viewer")
    first = await viewer.event("snapshot")
    assert first["reset"] is False
    await viewer.close()
    last = 0
    for n in range(30):
        last = (await writer.command("comment", text=f"m{n}"))["offset"]
    back = await LiveClient.connect(server.ws_url, "old", "viewer", offset=first["offset"])
    snapshot = await back.event("snapshot")
    assert snapshot["reset"] is True
    assert snapshot["offset"] == last
    assert snapshot["comments"][-1]["text"] == "m29"
    assert not back.of_type("resumed")
    await writer.close()
    await back.close()


async def test_resume_at_head_gets_nothing_but_resumed(start_server) -> None:  # type: ignore[no-untyped-def]
    """Reconnecting with the current offset gets ``resumed`` with zero missed events."""
    server = start_server()
    viewer = await LiveClient.connect(server.ws_url, "head", "viewer")
    snapshot = await viewer.event("snapshot")
    await viewer.close()
    back = await LiveClient.connect(server.ws_url, "head", "viewer", offset=snapshot["offset"])
    resumed = await back.event("resumed")
    assert resumed["missed"] == 0
    assert resumed["offset"] == snapshot["offset"]
    await back.close()


async def test_resume_from_the_future_gets_reset(start_server) -> None:  # type: ignore[no-untyped-def]
    """An offset beyond the room's head (another deployment's, say) gets a reset snapshot."""
    server = start_server()
    back = await LiveClient.connect(server.ws_url, "future", "viewer", offset=10_000)
    snapshot = await back.event("snapshot")
    assert snapshot["reset"] is True
    await back.close()
