"""Rooms through the client: settings, system messages, mutes, stats, readiness."""

from __future__ import annotations

from liveroom.client import LiveroomClient
from tests.client.conftest import watch
from tests.liveclient import LiveClient
from tests.servers import ServerProcess
from tests.timeouts import eventually


async def test_system_message_reaches_viewers(
    server: ServerProcess, lr: LiveroomClient, room: str, viewers: list[LiveClient]
) -> None:
    """A system message arrives at a viewer with the offset the call answered."""
    viewer = await watch(server, room, lr.tokens.mint("v1", room=room), viewers)
    offset = await lr.rooms.system_message(room, "欢迎来到直播间")
    event = await viewer.event("system", text="欢迎来到直播间")
    assert event["offset"] == offset


async def test_muted_viewer_cannot_comment_until_unmuted(
    server: ServerProcess, lr: LiveroomClient, room: str, viewers: list[LiveClient]
) -> None:
    """A muted viewer's comment is refused as muted; after unmute it posts."""
    viewer = await watch(server, room, lr.tokens.mint("v1", room=room), viewers)
    until = await lr.rooms.mute(room, "v1", seconds=300)
    assert set(await lr.rooms.mutes(room)) == {"v1"} and until > 0
    refused = await viewer.command("comment", text="hello")
    assert refused["ok"] is False and refused["error"]["code"] == "muted"
    await lr.rooms.unmute(room, "v1")
    assert await lr.rooms.mutes(room) == {}
    posted = await viewer.command("comment", text="hello again")
    assert posted["ok"] is True, posted


async def test_stats_count_the_viewer(
    server: ServerProcess, lr: LiveroomClient, room: str, viewers: list[LiveClient]
) -> None:
    """A connected viewer shows in the room's online count and unique viewers."""
    await watch(server, room, lr.tokens.mint("v1", room=room), viewers)

    async def counted() -> bool:
        stats = await lr.rooms.stats(room)
        return bool(stats["online"] == 1 and stats["unique_viewers"] == 1)

    await eventually(counted)


async def test_update_changes_settings_for_viewers(
    server: ServerProcess, lr: LiveroomClient, room: str, viewers: list[LiveClient]
) -> None:
    """A settings change is answered, read back, and sent to viewers; hidden words stay hidden."""
    viewer = await watch(server, room, lr.tokens.mint("v1", room=room), viewers)
    info = await lr.rooms.update(room, title="春季上新", sensitive_words=["spam"])
    assert (info["title"], info["sensitive_words"]) == ("春季上新", ["spam"])
    assert (await lr.rooms.get(room))["title"] == "春季上新"
    event = await viewer.event("room")
    assert event["room"]["title"] == "春季上新" and "sensitive_words" not in event["room"]


async def test_ready_is_true_for_a_running_server(lr: LiveroomClient) -> None:
    """A running server with its engine up is ready."""
    assert await lr.ready() is True
