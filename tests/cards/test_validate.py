"""The card checks shared by ``card_pin`` and the HTTP route: the image URL's limits."""

from __future__ import annotations

import pytest

from liveroom.errors import CommandError
from liveroom.features.cards.commands import IMAGE_MAX, validate_card


def _card(image: str) -> dict[str, object]:
    return {"sku": "k1", "title": "Tea", "price": 100, "image": image}


@pytest.mark.parametrize(
    "image", ["/" + "a" * 499, "https://" + "a" * 492, "http://" + "a" * 493, "/a.svg"]
)
def test_image_of_up_to_500_characters_in_all_is_taken(image: str) -> None:
    """An image URL of 500 characters, scheme included, is a valid card image."""
    assert len(image) <= IMAGE_MAX == 500
    assert validate_card(_card(image))[1]["image"] == image


@pytest.mark.parametrize(
    "image",
    [
        "/" + "a" * 500,  # 501 in all
        "https://" + "a" * 493,  # 501 in all: the scheme counts
        "https://" + "a" * 500,
        "/a.svg\n",  # a trailing newline
        "/a b.svg",  # a space
        "ftp://a/b.svg",
        "https://",
    ],
)
def test_image_over_500_characters_or_malformed_is_refused(image: str) -> None:
    """The 500 characters count the scheme; whitespace anywhere, a trailing newline included,
    is refused."""
    with pytest.raises(CommandError) as refused:
        validate_card(_card(image))
    assert refused.value.code.value == "bad_request"
