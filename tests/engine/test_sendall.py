"""``send_all``: the fan-out's send loop, in C (``liveroom._sendall``) and its twin in Python
(``liveroom.sendall``), on real socket pairs. Every test runs against both: same signature, same
answers.

The C loop must be built wherever the suite runs (``scripts/test`` installs a C compiler when
there is none), so that the hub's tests exercise the loop the server uses; ``send_loop=python``
runs the fan-out on the twin in ``test_direct_out.py``.
"""

from __future__ import annotations

import errno
import socket
import struct
from array import array
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from liveroom import _sendall, fanout, protocol, sendall  # an ImportError: no C loop built

FRAME = b"\x81\x05hello"

SendAll = Callable[..., Any]


@pytest.fixture(params=["c", "python"])
def send_all(request: pytest.FixtureRequest) -> SendAll:
    """The C loop, then its Python twin."""
    return {"c": _sendall.send_all, "python": sendall.send_all}[request.param]


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    """Three connected TCP pairs on loopback: (server end, non-blocking; client end)."""
    listener = socket.create_server(("127.0.0.1", 0))
    made = []
    try:
        for _ in range(3):
            client = socket.create_connection(listener.getsockname())
            server, _ = listener.accept()
            server.setblocking(False)
            made.append((server, client))
        yield made
    finally:
        listener.close()
        for server, client in made:
            server.close()
            client.close()


def _fds(pairs: list[tuple[socket.socket, socket.socket]]) -> array[int]:
    return array("i", [server.fileno() for server, _ in pairs])


def _read(client: socket.socket, size: int) -> bytes:
    client.settimeout(5)
    data = b""
    while len(data) < size:
        chunk = client.recv(size - len(data))
        assert chunk, "closed before the bytes came"
        data += chunk
    return data


def test_every_socket_gets_the_frame_and_nothing_comes_back(
    send_all: SendAll, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    """Every descriptor takes the whole frame: None comes back."""
    assert send_all(_fds(pairs), FRAME) is None
    assert send_all(_fds(pairs), memoryview(FRAME)) is None  # any bytes-like object
    for _, client in pairs:
        assert _read(client, 2 * len(FRAME)) == FRAME * 2


def test_a_full_socket_reports_what_it_took_and_the_others_still_get_the_frame(
    send_all: SendAll, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    """A full socket comes back with the bytes it took; the others get the whole frame."""
    full = pairs[0][0]
    full.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    pairs[0][1].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    filled = 0
    while True:
        try:
            filled += full.send(b"x" * 1024)
        except BlockingIOError:
            break
    big = b"y" * 65536
    misses = send_all(_fds(pairs), big)
    assert misses is not None and [index for index, _ in misses] == [0]
    taken = misses[0][1]
    assert 0 <= taken < len(big)
    for _, client in pairs[1:]:
        assert _read(client, len(big)) == big
    # the full socket got exactly ``taken`` bytes of the frame after its filler
    assert _read(pairs[0][1], filled + taken)[filled:] == big[:taken]


def test_a_reset_peer_is_a_negative_errno_and_a_blank_slot_is_ebadf(
    send_all: SendAll, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    """A reset peer comes back as -ECONNRESET or -EPIPE, a blank slot (-1) as -EBADF."""
    gone = pairs[1][1]
    gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    gone.close()  # an RST: the next send fails
    fds = _fds(pairs)
    fds.append(-1)
    results: dict[int, int] = {}
    for _ in range(3):  # the first send after an RST may still be taken, the next fails
        results = dict(send_all(fds, FRAME) or [])
        if 1 in results:
            break
    assert results[1] in (-errno.ECONNRESET, -errno.EPIPE), results
    assert results[3] == -errno.EBADF
    assert 0 not in results and 2 not in results


def test_many_misses_come_back_in_order(
    send_all: SendAll, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    """More misses than descriptors that took the frame: every blank slot is reported, by its
    index, and the live descriptors between them still get the frame."""
    live = _fds(pairs)
    fds = array("i")
    for n in range(40):
        fds.append(live[n // 13] if n % 13 == 12 else -1)
    misses = send_all(fds, FRAME)
    assert misses == [(n, -errno.EBADF) for n in range(40) if n % 13 != 12]
    for _, client in pairs:
        assert _read(client, len(FRAME)) == FRAME


def test_an_empty_list_sends_nothing(send_all: SendAll) -> None:
    """No descriptors: nothing to miss."""
    assert send_all(array("i"), FRAME) is None


@pytest.mark.parametrize(
    "args",
    [
        ([3, 4], FRAME),  # a list is not a buffer of C ints
        (array("q", [3]), FRAME),  # 8-byte items
        (array("I", [3]), FRAME),  # 4-byte items, but unsigned
        (array("f", [3]), FRAME),  # 4-byte items, but floats
        (array("i", [3]), "text"),  # str is not bytes-like
        (array("i"), "text"),  # refused even with nothing to send
        (array("i", [3]),),
        (array("i", [3]), FRAME, FRAME),
    ],
)
def test_wrong_arguments_are_a_type_error(send_all: SendAll, args: tuple[object, ...]) -> None:
    """Anything but a buffer of C ints and a bytes-like object is refused before a send."""
    with pytest.raises(TypeError):
        send_all(*args)


def test_the_fan_out_runs_c_where_built_and_the_twin_on_request() -> None:
    """``send_loop`` auto and c pick the C loop (built here); python picks its twin."""
    assert fanout.send_all is _sendall.send_all
    assert fanout.send_loop("auto") is _sendall.send_all
    assert fanout.send_loop("c") is _sendall.send_all
    assert fanout.send_loop("python") is sendall.send_all


# --------------------------------------------------------------------------- ws_text_frame


@pytest.mark.parametrize(
    "size",
    [0, 1, 125, 126, 127, 255, 256, 65535, 65536, 70_000],
    ids=lambda size: f"{size}B",
)
def test_ws_text_frame_in_c_gives_the_python_framings_bytes(size: int) -> None:
    """Either side of each length form (7, 16 and 64 bits), from bytes and other buffers."""
    payload = bytes(range(256)) * (size // 256 + 1)
    payload = payload[:size]
    expected = protocol.python_ws_text_frame(payload)
    assert _sendall.ws_text_frame(payload) == expected
    assert _sendall.ws_text_frame(bytearray(payload)) == expected
    assert _sendall.ws_text_frame(memoryview(payload)) == expected
    head = 2 if size < 126 else 4 if size < 65536 else 10
    assert len(expected) == head + size and expected[:1] == b"\x81"
    length = expected[1] if head == 2 else int.from_bytes(expected[2:head], "big")
    assert length == size and expected[head:] == payload


def test_ws_text_frame_is_the_compiled_one_where_built() -> None:
    """The server frames with C here (the C loop is built wherever the suite runs)."""
    assert protocol.ws_text_frame is _sendall.ws_text_frame


def test_ws_text_frame_refuses_what_is_not_bytes() -> None:
    for framing in (_sendall.ws_text_frame, protocol.python_ws_text_frame):
        with pytest.raises(TypeError):
            framing("text")  # type: ignore[arg-type]
