"""Which comments count as duplicates, and in which order a comment is checked (issue 19).

Only a posted comment is remembered for de-duplication, on every node; mute and the per-user
limit come before sensitive words, so a hidden (``sensitive_mode: "self"``) comment is checked
like any other."""

from __future__ import annotations

import httpx

from tests.liveclient import LiveClient
from tests.servers import API_KEY
from tests.timeouts import eventually

BACKEND = {"Authorization": f"Bearer {API_KEY}"}


async def _joined(server, room: str, user: str, role: str = "viewer") -> LiveClient:  # type: ignore[no-untyped-def]
    client = await LiveClient.connect(server.ws_url, room, user, role=role)
    await client.event("snapshot")
    return client


async def test_rate_limited_comment_is_not_a_duplicate_later(start_server) -> None:  # type: ignore[no-untyped-def]
    """A comment refused ``rate_limited`` (``retry: true``) is taken when retried unchanged
    once the window passes, never refused as ``duplicate``."""
    server = start_server(user_comment_limit=2, user_comment_window_s=1, dedupe_window_s=30)
    alice = await _joined(server, "rl", "alice")
    assert (await alice.command("comment", text="one"))["ok"] is True
    assert (await alice.command("comment", text="two"))["ok"] is True
    refused = await alice.command("comment", text="three")
    assert refused["error"]["code"] == "rate_limited" and refused["error"]["retry"] is True
    answers: list[str] = []

    async def retried() -> dict[str, object] | None:
        answer = await alice.command("comment", text="three")
        answers.append("ok" if answer["ok"] else answer["error"]["code"])
        return answer if answer["ok"] else None

    answer = await eventually(retried, timeout=5)
    assert "duplicate" not in answers, answers
    assert answer["offset"] > 0
    # a posted one is remembered: the same text again is a duplicate
    again = await alice.command("comment", text="three")
    assert again["error"]["code"] == "duplicate", again
    await alice.close()


async def test_muted_comment_is_not_a_duplicate_after_unmute(start_server) -> None:  # type: ignore[no-untyped-def]
    """A comment refused ``muted`` is taken when sent again after the unmute."""
    server = start_server(dedupe_window_s=30)
    alice = await _joined(server, "mu", "alice")
    host = await _joined(server, "mu", "hana", role="host")
    assert (await host.command("mute", user="alice", seconds=60))["ok"] is True
    assert (await alice.command("comment", text="hello"))["error"]["code"] == "muted"
    assert (await host.command("unmute", user="alice"))["ok"] is True
    answer = await alice.command("comment", text="hello")
    assert answer["ok"] is True, answer
    await host.event("comment", text="hello")
    await alice.close()
    await host.close()


async def test_duplicate_is_refused_across_nodes(start_server, redis_server_settings) -> None:  # type: ignore[no-untyped-def]
    """The same text from the same user on another node within the window is ``duplicate``."""
    a = start_server(**redis_server_settings, dedupe_window_s=30)
    b = start_server(**redis_server_settings, dedupe_window_s=30)
    on_a = await _joined(a, "dd", "alice")
    on_b = await _joined(b, "dd", "alice")
    assert (await on_a.command("comment", text="same text"))["ok"] is True
    answer = await on_b.command("comment", text="same text")
    assert answer["ok"] is False and answer["error"]["code"] == "duplicate", answer
    # another user's same text, and this user's other text, are fine
    bob = await _joined(b, "dd", "bob")
    assert (await bob.command("comment", text="same text"))["ok"] is True
    assert (await on_b.command("comment", text="other text"))["ok"] is True
    for client in (on_a, on_b, bob):
        await client.close()


async def test_hidden_comment_of_a_muted_user_is_muted(start_server) -> None:  # type: ignore[no-untyped-def]
    """In a ``sensitive_mode: "self"`` room a muted user's sensitive comment is ``muted``, not
    a hidden ``ok``."""
    server = start_server()
    async with httpx.AsyncClient(base_url=server.url, headers=BACKEND) as http:
        put = await http.put(
            "/api/rooms/hid", json={"sensitive_words": ["加微信"], "sensitive_mode": "self"}
        )
        assert put.status_code == 200, put.text
    alice = await _joined(server, "hid", "alice")
    host = await _joined(server, "hid", "hana", role="host")
    hidden = await alice.command("comment", text="加微信 1")
    assert hidden["ok"] is True and hidden["hidden"] is True, hidden
    assert (await host.command("mute", user="alice", seconds=60))["ok"] is True
    answer = await alice.command("comment", text="加微信 2")
    assert answer["ok"] is False and answer["error"]["code"] == "muted", answer
    await alice.close()
    await host.close()


async def test_hidden_comments_count_against_the_user_limit(start_server) -> None:  # type: ignore[no-untyped-def]
    """Hidden comments use up the per-user limit like posted ones, and a repeat of one is a
    duplicate."""
    server = start_server(user_comment_limit=2, user_comment_window_s=60)
    async with httpx.AsyncClient(base_url=server.url, headers=BACKEND) as http:
        put = await http.put(
            "/api/rooms/hlim", json={"sensitive_words": ["加微信"], "sensitive_mode": "self"}
        )
        assert put.status_code == 200, put.text
    alice = await _joined(server, "hlim", "alice")
    assert (await alice.command("comment", text="加微信 a"))["hidden"] is True
    again = await alice.command("comment", text="加微信 a")
    assert again["ok"] is False and again["error"]["code"] == "duplicate", again
    assert (await alice.command("comment", text="加微信 b"))["hidden"] is True
    third = await alice.command("comment", text="加微信 c")
    assert third["ok"] is False and third["error"]["code"] == "rate_limited", third
    plain = await alice.command("comment", text="plain")
    assert plain["ok"] is False and plain["error"]["code"] == "rate_limited", plain
    await alice.close()
