"""A comment flood from one user is refused by the per-user limit; the room goes on."""

from __future__ import annotations

from tests.liveclient import LiveClient


async def test_comment_flood_gets_rate_limited_and_room_goes_on(start_server) -> None:  # type: ignore[no-untyped-def]
    """Past 3 comments per window: ``rate_limited`` (retryable); repeats: ``duplicate``."""
    server = start_server(user_comment_limit=3, user_comment_window_s=60)
    spammer = await LiveClient.connect(server.ws_url, "flood", "spammer")
    alice = await LiveClient.connect(server.ws_url, "flood", "alice")
    watcher = await LiveClient.connect(server.ws_url, "flood", "watcher")
    for client in (spammer, alice, watcher):
        await client.event("snapshot")
    repeat = await spammer.command("comment", text="buy buy")
    again = await spammer.command("comment", text="buy buy")
    assert repeat["ok"] is True
    assert again["error"]["code"] == "duplicate"
    answers = [await spammer.command("comment", text=f"spam {n}") for n in range(6)]
    codes = [a["error"]["code"] if not a["ok"] else "ok" for a in answers]
    assert codes[:2] == ["ok", "ok"], codes
    assert set(codes[2:]) == {"rate_limited"}, codes
    assert all(a["error"]["retry"] for a in answers[2:])
    assert spammer.closed is None, "a comment flood is refused, not disconnected"
    sent = await alice.command("comment", text="still here")
    assert sent["ok"] is True
    await watcher.event("comment", text="still here")
    seen = [e["text"] for e in watcher.of_type("comment")]
    assert seen.count("buy buy") == 1
    assert not any(text in seen for text in ("spam 2", "spam 3", "spam 4", "spam 5"))
    for client in (spammer, alice, watcher):
        await client.close()
