"""Ending a room closes its viewers with 4010 and refuses newcomers with the same code."""

from __future__ import annotations

import httpx

from tests.liveclient import LiveClient
from tests.servers import API_KEY, ServerProcess


async def test_ending_a_room_closes_viewers_4010(server: ServerProcess, room: str) -> None:
    """After ``ended: true`` every viewer sees the ``room`` event, then close 4010."""
    viewers = [await LiveClient.connect(server.ws_url, room, f"v{i}") for i in range(3)]
    for viewer in viewers:
        await viewer.event("snapshot")
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.patch(
            f"/api/rooms/{room}",
            json={"ended": True},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    assert answer.status_code == 200, answer.text
    for viewer in viewers:
        code, _ = await viewer.closed_with()
        assert code == 4010
        assert viewer.of_type("room")[-1]["room"]["ended"] is True
    late = await LiveClient.connect(server.ws_url, room, "late")
    code, _ = await late.closed_with()
    assert code == 4010
    assert not late.of_type("snapshot")
