"""Where a client frame ends, as the direct transport's splitter reads it off the wire."""

from __future__ import annotations

from liveroom.connection.uvicorn_adapter import _INCOMPLETE, _TOO_BIG, _frame_end
from tests.wsraw import TEXT, client_frame


def test_a_whole_frame_ends_after_its_mask_and_payload() -> None:
    """Short, 16-bit and 64-bit lengths: the end is header + mask + payload."""
    for size in (0, 5, 125, 126, 300, 70_000):
        wire = client_frame(TEXT, b"x" * size)
        assert _frame_end(wire, 0, len(wire), None) == len(wire)
        assert _frame_end(b"junk" + wire, 4, len(wire) + 4, None) == len(wire) + 4


def test_a_frame_cut_anywhere_is_incomplete() -> None:
    """Cut inside the header, the extended length, the mask or the payload: not yet whole."""
    for size in (5, 300, 70_000):
        wire = client_frame(TEXT, b"y" * size)
        for cut in (1, 2, 3, 5, 9, len(wire) - 1):
            assert _frame_end(wire[:cut], 0, cut, None) == _INCOMPLETE, (size, cut)


def test_a_frame_over_the_limit_is_refused_from_its_header() -> None:
    """The length alone decides: the payload need not have arrived."""
    wire = client_frame(TEXT, b"z" * 2000)
    assert _frame_end(wire[:8], 0, 8, 1000) == _TOO_BIG
    assert _frame_end(wire, 0, len(wire), 2000) == len(wire)


def test_an_unmasked_frame_has_no_mask_bytes() -> None:
    """A frame without the mask bit (a protocol error the parser reports) still has a length."""
    wire = client_frame(TEXT, b"abc", mask=False)
    assert _frame_end(wire, 0, len(wire), None) == len(wire) == 5
