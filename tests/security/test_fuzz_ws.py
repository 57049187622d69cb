"""Hypothesis over a live WebSocket: whatever a host sends, each message gets one reply.

Messages are junk bytes, junk JSON and commands of every registered type with fields drawn
from anything JSON holds. The connection must answer every one of them (a reply or an error
reply), stay open, and answer a final ping: no crash, no stuck connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.liveclient import connect_sync
from tests.security.strategies import JSON, command_bodies
from tests.servers import ServerProcess
from tests.timeouts import scaled

MESSAGES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200),
    JSON.map(lambda v: orjson.dumps(v).decode()),
    command_bodies().map(lambda drawn: orjson.dumps(drawn[1]).decode()),
)


@pytest.fixture(scope="module")
def open_server(module_servers: Callable[..., ServerProcess]) -> ServerProcess:
    """A server with a command budget large enough that only the fuzz input matters."""
    return module_servers(command_rate=10_000, command_burst=10_000, user_comment_limit=10_000)


def _replies(frame: str | bytes) -> list[dict[str, Any]]:
    events = orjson.loads(frame)
    assert isinstance(events, list)
    return [e for e in events if e.get("type") == "reply"]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(MESSAGES, min_size=1, max_size=25))
def test_every_message_gets_one_reply_and_the_connection_lives(
    open_server: ServerProcess, messages: list[str | bytes]
) -> None:
    """N fuzzed messages from a host get N replies, then a ping is still answered."""
    with connect_sync(open_server.ws_url, "fuzz", "fuzzer", "host", max_size=None) as ws:
        for message in messages:
            ws.send(message)
        ws.send('{"type":"ping","id":"last-ping"}')
        seen: list[dict[str, Any]] = []
        while not any(r.get("id") == "last-ping" for r in seen):
            seen += _replies(ws.recv(timeout=scaled(10)))
        assert len(seen) == len(messages) + 1, [r for r in seen if r.get("ok")][:3]
        assert seen[-1]["ok"] is True
        for reply in seen[:-1]:
            if not reply["ok"]:
                assert reply["error"]["code"] != "internal", reply
