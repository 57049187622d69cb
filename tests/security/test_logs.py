"""Logs: JSON lines with request and connection ids, and never a secret in them."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import httpx
import jwt
import orjson

from liveroom.logs import JsonFormatter, RedactFilter
from tests.liveclient import LiveClient, token
from tests.servers import API_KEY, SECRET, ServerProcess
from tests.timeouts import eventually


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(f"failed with {SECRET}")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("liveroom.test", logging.INFO, __file__, 1, msg, args, exc_info)


def test_filter_removes_configured_secrets_and_tokens() -> None:
    """Message, arguments and traceback lose the secret, the API key, JWTs and bearer values."""
    tok = token("alice")
    record = _record("got %s and %s in /ws?room=r1&token=%s", SECRET, API_KEY, tok, exc=True)
    RedactFilter(secrets=[SECRET, API_KEY]).filter(record)
    line = JsonFormatter().format(record)
    for secret in (SECRET, API_KEY, tok):
        assert secret not in line
    body = orjson.loads(line)
    assert "token=[redacted]" in body["msg"] and "[redacted]" in body["exc"]


def test_short_secrets_are_not_used_as_patterns() -> None:
    """A configured value under 8 characters does not blank out ordinary words."""
    record = _record("the room is open")
    RedactFilter(secrets=["room"]).filter(record)
    assert record.getMessage() == "the room is open"


async def test_server_logs_hold_no_secrets_and_carry_ids(
    module_servers: Callable[..., ServerProcess],
) -> None:
    """A debug-level server, fed every credential there is, writes none of them to its log."""
    server = module_servers(log_level="debug", log_json=True)
    start = server.log_path.stat().st_size
    good = token("alice", room="r1", role="host")
    forged = jwt.encode({"sub": "eve", "exp": time.time() + 60}, "f" * 32, algorithm="HS256")
    fresh = token("alice", room="r1", role="host", ttl=7200)

    client = await LiveClient.connect(server.ws_url, tok=good)
    await client.event("snapshot")
    assert (await client.command("refresh", token=fresh))["ok"] is True
    await client.command("comment", text=f"my key is {API_KEY}")
    await client.send_raw(b"\xff not json " + SECRET.encode())
    await client.close()
    refused = await LiveClient.connect(server.ws_url, tok=forged)
    await refused.closed_with()
    await refused.close()
    with httpx.Client(base_url=server.url, timeout=5) as http:
        http.post(
            "/api/rooms/r1/system",
            json={"text": "x"},
            headers={"authorization": "Bearer " + API_KEY},
        )
        http.post(
            "/api/rooms/r1/system",
            json={"text": "x"},
            headers={"authorization": "Bearer " + forged},
        )
        http.get("/api/rooms/r1/stats", headers={"authorization": "Bearer " + good})

    def written() -> list[dict[str, object]]:
        with open(server.log_path, "rb") as f:
            f.seek(start)
            lines = [line for line in f.read().splitlines() if line.strip()]
        parsed = [orjson.loads(line) for line in lines]
        return parsed if sum(1 for p in parsed if "refused" in str(p.get("msg"))) >= 2 else []

    lines = await eventually(written)
    text = server.log_path.read_bytes()[start:].decode()
    for secret in (SECRET, API_KEY, good, forged, fresh):
        assert secret not in text
    for tok in (good, forged, fresh):  # nor a fragment of a signature in a cut-short frame dump
        signature = tok.rsplit(".", 1)[1]
        assert signature[:12] not in text and signature[-12:] not in text
    assert all({"ts", "level", "logger", "msg"} <= line.keys() for line in lines)
    ws_refusal = next(
        p for p in lines if p.get("logger") == "liveroom.session" and "refused" in str(p["msg"])
    )
    api_refusal = next(p for p in lines if p.get("logger") == "liveroom.api")
    assert ws_refusal["conn"] and ws_refusal["code"] == 4001
    assert api_refusal["request"] and api_refusal["code"] == "unauthorized"


async def test_a_line_logged_by_a_command_names_its_connection(
    module_servers: Callable[..., ServerProcess],
) -> None:
    """What a command logs (here the flood warning, from the session's command worker) carries
    the id of the connection it came on, the one its handshake logged."""
    server = module_servers(log_level="debug", log_json=True, command_burst=5, command_rate=1)
    start = server.log_path.stat().st_size
    flooder = await LiveClient.connect(server.ws_url, "logged", "flooder")
    await flooder.event("snapshot")
    for n in range(40):  # far past the burst, before any reply can come back
        await flooder.send_raw(orjson.dumps({"type": "like", "id": f"l{n}"}).decode())
    assert (await flooder.closed_with())[0] == 4029
    await flooder.close()

    def written() -> list[dict[str, object]]:
        with open(server.log_path, "rb") as f:
            f.seek(start)
            parsed = [orjson.loads(line) for line in f.read().splitlines() if line.strip()]
        return parsed if any("flooding" in str(p.get("msg")) for p in parsed) else []

    lines = await eventually(written)
    flood = next(p for p in lines if "flooding" in str(p.get("msg")))
    joined = [p for p in lines if p.get("msg") == "connected" and p.get("room") == "logged"]
    assert flood["conn"] and [p["conn"] for p in joined] == [flood["conn"]]
