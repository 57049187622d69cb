"""The feature's checks that need no engine: the host's scope and the cards' shape."""

from __future__ import annotations

import pytest

from liveroom.errors import CommandError
from liveroom.features.private.commands import validate_card
from liveroom.features.private.store import host_scope


def test_host_scope_names_the_host_or_the_room() -> None:
    """``host.<id>`` for a host id, the room itself without one, None for an id with ``:``."""
    assert host_scope("r1", "shop-9") == "host.shop-9"
    assert host_scope("r1", None) == "r1" and host_scope("r1", "") == "r1"
    assert host_scope("r1", "wx:9") is None and host_scope("r1", 7) is None


@pytest.mark.parametrize(
    "body",
    [
        {"link": "https://example.com"},
        {"message": "", "link": "https://example.com"},
        {"message": "hi"},
        {"message": "hi", "link": "javascript:alert(1)"},
        {"message": "hi", "image": "ftp://example.com/qr.png"},
        {"message": "hi", "link": "https://example.com", "color": "red"},
        {"message": "x" * 201, "link": "https://example.com"},
        ["not", "an", "object"],
    ],
)
def test_a_bad_card_is_refused_with_bad_card(body: object) -> None:
    """No message, no link nor image, a URL that is not http(s), an unknown field: bad_card."""
    with pytest.raises(CommandError) as refused:
        validate_card(body)
    assert refused.value.code == "bad_card"


def test_a_card_keeps_its_message_link_and_image() -> None:
    """A good card comes back trimmed, with only the fields given."""
    card = validate_card({"message": " Join ", "image": "/img/qr.png", "link": ""})
    assert card == {"message": "Join", "image": "/img/qr.png"}
