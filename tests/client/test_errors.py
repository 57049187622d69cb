"""How failures reach the backend: the server's codes as exceptions, network trouble apart."""

from __future__ import annotations

import httpx
import pytest

from liveroom.client import (
    BadRequest,
    ErrorCode,
    Forbidden,
    LiveroomClient,
    LiveroomClientError,
    NetworkError,
    NotFound,
    Unauthorized,
    UnexpectedResponse,
)
from tests.processes import free_port
from tests.servers import ServerProcess


async def test_unknown_sale_raises_not_found(lr: LiveroomClient, room: str) -> None:
    """A sale that does not exist raises NotFound with the server's code, status and details."""
    with pytest.raises(NotFound) as caught:
        await lr.sales.get(room, "nope")
    error = caught.value
    assert (error.code, error.status, error.retry) == (ErrorCode.NOT_FOUND, 404, False)
    assert error.details["sale"] == "nope"
    assert isinstance(error, LiveroomClientError) and error.message


async def test_bad_api_key_raises_unauthorized(server: ServerProcess, room: str) -> None:
    """A wrong API key raises Unauthorized coded unauthorized."""
    async with LiveroomClient(server.url, api_key="not-the-key") as lr:
        with pytest.raises(Unauthorized) as caught:
            await lr.rooms.stats(room)
    assert (caught.value.code, caught.value.status) == (ErrorCode.UNAUTHORIZED, 401)


async def test_viewer_token_cannot_manage_sales(
    server: ServerProcess, lr: LiveroomClient, room: str
) -> None:
    """A viewer's token as the credential raises Forbidden on a host call."""
    token = lr.tokens.mint("v1", room=room)
    async with LiveroomClient(server.url, api_key=token) as viewer:
        with pytest.raises(Forbidden) as caught:
            await viewer.sales.create(room, sku="A1", title="Tea", price=1, stock=1)
    assert caught.value.code is ErrorCode.FORBIDDEN


async def test_malformed_value_raises_bad_request(lr: LiveroomClient, room: str) -> None:
    """A value the server refuses raises BadRequest with its message."""
    with pytest.raises(BadRequest) as caught:
        await lr.packets.create(room, total=1, count=5)
    assert caught.value.code is ErrorCode.BAD_REQUEST and "total" in caught.value.message


async def test_wrong_base_url_raises_unexpected_response(server: ServerProcess, room: str) -> None:
    """A base URL with a path the server lacks raises UnexpectedResponse, not NotFound."""
    async with LiveroomClient(server.url + "/live", api_key="k") as lr:
        with pytest.raises(UnexpectedResponse) as caught:
            await lr.rooms.get(room)
    assert caught.value.status == 404 and caught.value.code == "bad_response"


async def test_unreachable_server_raises_network_error() -> None:
    """Nothing listening raises NetworkError, retryable, and the call never ran."""
    async with LiveroomClient(f"http://127.0.0.1:{free_port()}", api_key="k") as lr:
        with pytest.raises(NetworkError) as caught:
            await lr.rooms.get("r1")
    error = caught.value
    assert (error.code, error.status, error.retry, error.may_have_run) == (
        "network", None, True, False
    )  # fmt: skip
    assert isinstance(error.__cause__, httpx.ConnectError)


async def test_id_cannot_reach_another_path(lr: LiveroomClient, room: str) -> None:
    """An id with a slash, or a dot segment, raises ValueError before anything is sent."""
    await lr.sales.create(room, sale="s1", sku="A1", title="Tea", price=1, stock=1)
    for bad in ("s1/audit", "..", ""):
        with pytest.raises(ValueError):
            await lr.sales.get(room, bad)


async def test_id_is_sent_percent_encoded(lr: LiveroomClient, room: str) -> None:
    """Characters with a meaning in URLs travel inside the id: the server refuses the id."""
    with pytest.raises(BadRequest) as caught:
        await lr.sales.get(room, "s1?x=1#y")
    assert caught.value.message == "sale id malformed"


async def test_injected_http_client_is_used_and_left_open(server: ServerProcess, room: str) -> None:
    """Calls go through a given httpx.AsyncClient, which the client does not close."""
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        async with LiveroomClient(server.url, api_key="k" * 8, http=http) as lr:
            assert await lr.ready() is True
        assert not http.is_closed
    assert seen == ["/readyz"]
