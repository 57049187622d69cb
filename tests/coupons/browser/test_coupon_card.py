"""Coupons in the browser: the host issues a batch, a viewer claims one from the coupon card and
buys with it, and the reduced price is shown; a second viewer sees the card run out."""

from __future__ import annotations

import pytest

playwright = pytest.importorskip("playwright.sync_api")

from playwright.sync_api import expect  # noqa: E402

from tests.browser.actions import grab, start_sale  # noqa: E402
from tests.browser.conftest import Pages, screenshot  # noqa: E402


def test_a_claimed_coupon_takes_its_amount_off_the_buy(pages: Pages) -> None:
    """¥3 off, one coupon: Alice claims it and pays ¥3 less; Bob finds the batch gone."""
    host = pages.host()
    alice = pages.viewer()
    bob = pages.viewer()
    start_sale(host, stock=5)
    host.get_by_test_id("coupon-value").fill("3")
    host.get_by_test_id("coupon-count").fill("1")
    host.get_by_test_id("coupon-issue").click()
    expect(host.get_by_test_id("coupon-left")).to_contain_text("1 of 1 left")

    expect(bob.get_by_test_id("coupon-badge")).to_be_visible()
    expect(alice.get_by_test_id("coupon-badge")).to_be_visible()
    alice.get_by_test_id("coupon-badge").click()
    expect(alice.get_by_test_id("coupon-card")).to_contain_text("¥3.00 off")
    alice.get_by_test_id("coupon-claim").click()
    expect(alice.get_by_test_id("coupon-state")).to_contain_text("Claimed")
    expect(alice.get_by_test_id("my-coupons")).to_contain_text("ready to use")
    expect(host.get_by_test_id("coupon-left")).to_contain_text("0 of 1 left")
    expect(bob.get_by_test_id("coupon-badge")).to_be_hidden()  # the batch ran out
    screenshot(alice, "viewer-coupon-claimed")
    alice.locator("#coupon-sheet .sheet-close").click()

    grab(alice)
    expect(alice.get_by_test_id("buy-answer")).to_contain_text("Got it!")
    total = alice.get_by_test_id("buy-total")
    expect(total).to_contain_text("¥3.00 off with your coupon")
    expect(total).to_contain_text("You pay ¥")
    screenshot(alice, "viewer-coupon-buy")
    screenshot(host, "host-coupons")
