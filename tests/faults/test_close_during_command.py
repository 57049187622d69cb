"""A client's Close waits for the replies of the commands read before it, but not forever."""

from __future__ import annotations

import time
from typing import Any

import orjson

from tests.liveclient import token
from tests.redis_servers import RedisProcess
from tests.timeouts import scaled
from tests.wsraw import CLOSE, TEXT, RawSocketClient, client_frame


def test_close_echo_is_bounded_while_a_command_hangs(
    durable_redis: RedisProcess, start_server: Any, fresh_prefix: Any
) -> None:
    """Redis hangs (SIGSTOP) under a comment read just before the client's Close: the comment
    cannot finish for longer than the grace, and the Close is echoed when the grace ends.
    (The comment's own bound is the Redis client's: two tries of 3 s, past the 5 s grace.)"""
    server = start_server(engine="redis", redis_url=durable_redis.url, redis_prefix=fresh_prefix())
    client = RawSocketClient(server.port, f"/ws?room=hang&token={token('leaver', 'hang')}", 1 << 16)
    try:
        while True:  # the snapshot first
            frame = client.read_frame(scaled(10))
            assert frame is not None and frame[0] == TEXT, frame
            if any(e.get("type") == "snapshot" for e in orjson.loads(frame[1])):
                break
        durable_redis.freeze()
        wire = client_frame(TEXT, orjson.dumps({"type": "comment", "id": "h1", "text": "hi"}))
        wire += client_frame(CLOSE, (1000).to_bytes(2, "big"))
        began = time.monotonic()
        client.sock.sendall(wire)
        deadline = began + scaled(15)
        close = None
        while close is None and time.monotonic() < deadline:
            frame = client.read_frame(max(0.01, deadline - time.monotonic()))
            assert frame is not None, "no Close echoed (the connection ended, or time ran out)"
            if frame[0] == CLOSE:
                close = frame[1]
            else:
                replies = [e for e in orjson.loads(frame[1]) if e.get("type") == "reply"]
                assert not replies, f"Redis is frozen, yet a reply came: {replies}"
        assert close is not None, "no Close echoed within the bound"
        assert int.from_bytes(close[:2], "big") == 1000
        assert time.monotonic() - began >= 4.0, "the echo did not wait for the command at all"
        client.sock.settimeout(scaled(10))
        assert client.sock.recv(1) == b"", "the server did not end the connection"
    finally:
        durable_redis.thaw()
        client.close()
