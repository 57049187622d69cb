"""One memory-engine server shared by a module's protocol tests (they use distinct rooms)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.servers import ServerProcess

_rooms = itertools.count(1)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """A server with small limits, so floods and big frames are quick to provoke."""
    proc = ServerProcess(
        engine="memory",
        command_rate=20,
        command_burst=40,
        max_frame_bytes=4096,
        history_len=50,
        user_comment_limit=1000,
        room_comment_cap=1000,
    ).start()
    yield proc
    proc.stop()


@pytest.fixture
def room() -> str:
    """A fresh room per test, so tests sharing the server do not see each other."""
    return f"p{next(_rooms)}"
