"""Comment rules through a real server: sensitive words, mutes, system messages, likes, shedding."""

from __future__ import annotations

import httpx

from tests.liveclient import LiveClient, token
from tests.servers import API_KEY
from tests.timeouts import eventually

BACKEND = {"Authorization": f"Bearer {API_KEY}"}


async def _pair(server, room: str) -> tuple[LiveClient, LiveClient]:  # type: ignore[no-untyped-def]
    sender = await LiveClient.connect(server.ws_url, room, "sender")
    watcher = await LiveClient.connect(server.ws_url, room, "watcher")
    await sender.event("snapshot")
    await watcher.event("snapshot")
    return sender, watcher


async def test_sensitive_words_are_masked_or_kept_to_the_sender(start_server) -> None:  # type: ignore[no-untyped-def]
    """``mask`` stars the word for everyone; ``self`` shows the comment to its sender only."""
    server = start_server()
    async with httpx.AsyncClient(base_url=server.url, headers=BACKEND) as http:
        await http.put("/api/rooms/words", json={"sensitive_words": ["加微信"]})
        sender, watcher = await _pair(server, "words")
        answer = await sender.command("comment", text="想要就加微信哦")
        assert answer["masked"] is True
        masked = await watcher.event("comment", masked=True)
        assert masked["text"] == "想要就***哦"
        await http.patch("/api/rooms/words", json={"sensitive_mode": "self"})
        await watcher.event("room")
        tries = iter(range(1000))

        async def hidden_one() -> str | None:  # the node applies the new mode within moments
            text = f"加微信 secret {next(tries)}"
            answer = await sender.command("comment", text=text)
            return text if answer.get("hidden") else None

        secret = await eventually(hidden_one, timeout=5)
        mine = await sender.event("comment", hidden=True)
        assert mine["self"] is True and mine["text"] == secret
        await sender.command("comment", text="after the hidden one")
        await watcher.event("comment", text="after the hidden one")
        assert not [e for e in watcher.of_type("comment") if secret[4:] in e["text"]]
        viewer = {"Authorization": f"Bearer {token('watcher', 'words')}"}
        seen_by_viewer = (await http.get("/api/rooms/words", headers=viewer)).json()["room"]
        assert "sensitive_words" not in seen_by_viewer  # the list stays on the server
    await sender.close()
    await watcher.close()


async def test_muted_user_is_refused_and_host_can_unmute(start_server) -> None:  # type: ignore[no-untyped-def]
    """A host's ``mute`` makes the user's comments answer ``muted`` until ``unmute``."""
    server = start_server()
    sender, watcher = await _pair(server, "mutes")
    host = await LiveClient.connect(server.ws_url, "mutes", "hana", role="host")
    await host.event("snapshot")
    assert (await host.command("mute", user="sender", seconds=60))["ok"] is True
    refused = await sender.command("comment", text="let me talk")
    assert refused["error"]["code"] == "muted"
    assert (await host.command("unmute", user="sender"))["ok"] is True
    assert (await sender.command("comment", text="thanks"))["ok"] is True
    await watcher.event("comment", text="thanks")
    system = await host.command("system", text="秒杀 8 点开始")
    assert system["ok"] is True
    note = await watcher.event("system", text="秒杀 8 点开始")
    assert note["offset"] == system["offset"] and note["by"]["id"] == "hana"
    for client in (sender, watcher, host):
        await client.close()


async def test_likes_go_out_as_totals_not_one_event_each(start_server) -> None:  # type: ignore[no-untyped-def]
    """150 likes reach the room as a ``stats`` total of 150, in a handful of events."""
    server = start_server(pulse_s=1)
    sender, watcher = await _pair(server, "likes")
    for _ in range(15):
        assert (await sender.command("like", count=10))["ok"] is True
    total = await watcher.wait(
        lambda: [e for e in watcher.of_type("stats") if e.get("likes") == 150], timeout=10
    )
    stats = watcher.of_type("stats")
    assert total and len(stats) < 15, f"{len(stats)} stats events for 15 like commands"
    assert not watcher.of_type("like")
    await sender.close()
    await watcher.close()


async def test_over_the_cap_comments_are_shed_and_echoed_to_their_sender(start_server) -> None:  # type: ignore[no-untyped-def]
    """Above the room's cap viewers' comments are shed (sender still sees them); hosts' are not."""
    server = start_server(room_comment_cap=2, user_comment_limit=100)
    sender, watcher = await _pair(server, "hot")
    host = await LiveClient.connect(server.ws_url, "hot", "hana", role="host")
    await host.event("snapshot")
    answers = [await sender.command("comment", text=f"hot {n}") for n in range(8)]
    shed = [a for a in answers if a.get("shed")]
    assert shed, "eight comments in a second against a cap of 2: some must be shed"
    echoes = [e for e in sender.of_type("comment") if e.get("shed")]
    assert len(echoes) == len(shed) and all(e["self"] for e in echoes)
    host_answer = await host.command("comment", text="host speaks")
    assert not host_answer.get("shed")
    await watcher.event("comment", text="host speaks")
    broadcast = {e["text"] for e in watcher.of_type("comment")}
    assert not {e["text"] for e in echoes} & broadcast, "shed comments reach nobody else"
    for client in (sender, watcher, host):
        await client.close()


async def _delays(url: str) -> dict[str, float]:
    """The node's ``liveroom_comment_delay_seconds`` samples: count, sum and each bucket."""
    async with httpx.AsyncClient(base_url=url) as http:
        text = (await http.get("/metrics")).text
    out = {}
    for line in text.splitlines():
        if line.startswith("liveroom_comment_delay_seconds"):
            name, _, value = line.rpartition(" ")
            out[name.removeprefix("liveroom_comment_delay_seconds")] = float(value)
    return out


async def test_each_frame_with_a_comment_is_counted_by_the_comments_age(start_server) -> None:  # type: ignore[no-untyped-def]
    """``liveroom_comment_delay_seconds`` counts one sample per frame written to a viewer, by
    the age of the frame's comment when it went out: two viewers, two samples, each under a
    second and in the same bucket as it is in every bucket above. A frame without a chat event
    (the room's settings changed) is not counted."""
    server = start_server()
    sender, watcher = await _pair(server, "delays")
    before = await _delays(server.url)
    assert before["_count"] == 0, before  # the snapshots held no frame of the shared fan-out
    async with httpx.AsyncClient(base_url=server.url, headers=BACKEND) as http:
        await http.patch("/api/rooms/delays", json={"title": "no comment in this one"})
    await watcher.event("room")
    await sender.event("room")
    assert (await _delays(server.url))["_count"] == 0
    await sender.command("comment", text="how old is this")
    await watcher.event("comment", text="how old is this")
    await sender.event("comment", text="how old is this")
    after = await _delays(server.url)
    assert after["_count"] == 2, after
    assert 0 < after["_sum"] < 2.0, after  # two ages, each a tick or so on an idle node
    assert after['_bucket{le="1.0"}'] == after['_bucket{le="+Inf"}'] == 2, after
    await sender.close()
    await watcher.close()
