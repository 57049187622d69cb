"""Two server processes on one real Redis: every comment reaches every viewer once, in order."""

from __future__ import annotations

import asyncio

from tests.liveclient import LiveClient

PER_WRITER = 60
LIMITS = {
    "user_comment_limit": 10_000,
    "room_comment_cap": 10_000,
    "command_rate": 1000,
    "command_burst": 1000,
}


def _comments(client: LiveClient) -> list[tuple[int, str]]:
    return [(e["offset"], e["text"]) for e in client.events if e.get("type") == "comment"]


async def test_comments_reach_every_viewer_once_in_one_order(
    start_server, redis_server_settings
) -> None:  # type: ignore[no-untyped-def]
    """Writers on both nodes; three viewers on each see the same comments, once, same order."""
    a = start_server(**redis_server_settings, **LIMITS)
    b = start_server(**redis_server_settings, **LIMITS)
    viewers = [
        await LiveClient.connect(node.ws_url, "split", f"v{node.port}-{i}")
        for node in (a, b)
        for i in range(3)
    ]
    writers = [
        await LiveClient.connect(node.ws_url, "split", f"w{n}") for n, node in enumerate((a, b))
    ]
    for client in viewers + writers:
        await client.event("snapshot")

    async def write(writer: LiveClient, tag: str) -> list[int]:
        offsets = []
        for n in range(PER_WRITER):
            answer = await writer.command("comment", text=f"{tag}{n}")
            assert answer["ok"] is True, answer
            offsets.append(answer["offset"])
        return offsets

    sent = await asyncio.gather(write(writers[0], "a"), write(writers[1], "b"))
    acknowledged = sorted(sent[0] + sent[1])
    assert len(set(acknowledged)) == 2 * PER_WRITER, "offsets are unique per room"
    for viewer in viewers:
        await viewer.wait(lambda v=viewer: len(_comments(v)) >= 2 * PER_WRITER, timeout=10)
    reference = _comments(viewers[0])
    assert [offset for offset, _ in reference] == acknowledged
    texts = {text for _, text in reference}
    assert texts == {f"{t}{n}" for t in "ab" for n in range(PER_WRITER)}
    for viewer in viewers[1:]:
        assert _comments(viewer) == reference, "every viewer sees one and the same sequence"
    for client in viewers + writers:
        await client.close()


async def test_viewers_on_both_nodes_see_online_summed(start_server, redis_server_settings) -> None:  # type: ignore[no-untyped-def]
    """The online count in ``stats`` events sums viewers over both nodes."""
    a = start_server(**redis_server_settings, pulse_s=0.2)
    b = start_server(**redis_server_settings, pulse_s=0.2)
    clients = [await LiveClient.connect(a.ws_url, "count", f"a{i}") for i in range(2)]
    clients += [await LiveClient.connect(b.ws_url, "count", f"b{i}") for i in range(3)]
    watcher = clients[0]
    await watcher.wait(
        lambda: any(e.get("online") == 5 for e in watcher.events if e.get("type") == "stats"),
        timeout=10,
    )
    for client in clients:
        await client.close()
