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
    epoch = viewer.of_type("snapshot")[0]["epoch"]
    viewer.ws.transport.abort()
    await viewer.closed_with()
    dropped.set()
    await writer.wait(lambda: len(sent) >= COMMENTS // 2)  # comments flow while it is away

    again = await LiveClient.connect(
        server.ws_url, "resume", "viewer", offset=before[-1], epoch=epoch
    )
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
    assert resumed["epoch"] == epoch
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
    back = await LiveClient.connect(
        server.ws_url, "old", "viewer", offset=first["offset"], epoch=first["epoch"]
    )
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
    back = await LiveClient.connect(
        server.ws_url, "head", "viewer", offset=snapshot["offset"], epoch=snapshot["epoch"]
    )
    resumed = await back.event("resumed")
    assert resumed["missed"] == 0
    assert resumed["offset"] == snapshot["offset"]
    await back.close()


async def test_resume_from_the_future_gets_reset(start_server) -> None:  # type: ignore[no-untyped-def]
    """An offset beyond the room's head, even with the room's epoch, gets a reset snapshot."""
    server = start_server()
    viewer = await LiveClient.connect(server.ws_url, "future", "viewer")
    epoch = (await viewer.event("snapshot"))["epoch"]
    back = await LiveClient.connect(server.ws_url, "future", "viewer", offset=10_000, epoch=epoch)
    snapshot = await back.event("snapshot")
    assert snapshot["reset"] is True and snapshot["epoch"] == epoch
    await viewer.close()
    await back.close()


async def _resume_answer(server, **resume: object) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """Post one comment in a fresh room, then resume from before it with ``resume``'s fields."""
    writer = await LiveClient.connect(server.ws_url, "epoch", "writer")
    snapshot = await writer.event("snapshot")
    assert (await writer.command("comment", text=f"one {resume}"))["ok"]
    fields = {"offset": snapshot["offset"], "epoch": snapshot["epoch"], **resume}
    back = await LiveClient.connect(server.ws_url, "epoch", "viewer", **fields)  # type: ignore[arg-type]
    answer = await back.wait(lambda: back.of_type("snapshot") or back.of_type("resumed"))
    await writer.close()
    await back.close()
    return dict(answer[0])


async def test_resume_names_its_epoch_to_be_served_from_history(start_server) -> None:  # type: ignore[no-untyped-def]
    """The same offset is resumed exactly with the stream's epoch, and reset with another."""
    server = start_server()
    exact = await _resume_answer(server)
    assert exact["type"] == "resumed" and exact["missed"] == 1
    other = await _resume_answer(server, epoch="another-epoch")
    assert other["type"] == "snapshot" and other["reset"] is True
    assert other["epoch"] == exact["epoch"] != "another-epoch"


async def test_resume_without_epoch_gets_reset(start_server) -> None:  # type: ignore[no-untyped-def]
    """A protocol v1 resume (an offset, no epoch) cannot be proved to be of this stream: reset."""
    server = start_server()
    answer = await _resume_answer(server, epoch=None)
    assert answer["type"] == "snapshot" and answer["reset"] is True


@pytest.mark.parametrize("epoch", ["", "a" * 33, "abc%20def", "ab.c", "%C2%B2", "abc%0A"])
async def test_malformed_epoch_closes_4000(start_server, epoch: str) -> None:  # type: ignore[no-untyped-def]
    """An epoch that is not 1 to 32 of ``A-Z a-z 0-9 _ -`` is a bad request."""
    server = start_server()
    client = await LiveClient.connect(server.ws_url, "epoch", "viewer", offset=0, epoch=epoch)
    code, _ = await client.closed_with()
    assert code == 4000
    assert client.of_type("error")[0]["code"] == "bad_request"
