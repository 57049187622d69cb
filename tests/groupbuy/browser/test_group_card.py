"""Group buys in the browser: the host starts a deal, two viewers form a group, and the group
card (members, slots left, countdown) follows on both pages and in the host console."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import Pages, screenshot


def test_two_viewers_form_a_group(pages: Pages) -> None:
    """Alice starts a group of two, Bob sees it and joins; both cards show it formed."""
    host = pages.host()
    alice = pages.viewer()
    bob = pages.viewer()
    host.get_by_test_id("deal-size").fill("2")
    host.get_by_test_id("deal-create").click()
    expect(host.get_by_test_id("deal-numbers")).to_contain_text("stock 20 / 20")

    alice.get_by_test_id("group-badge").click()
    alice.get_by_test_id("group-start").click()
    card = alice.get_by_test_id("group-card")
    expect(card.get_by_test_id("group-slots-left")).to_have_text("1 slot left")
    expect(card.get_by_test_id("group-countdown")).to_have_text(re.compile(r"^[45]:\d\d$"))
    screenshot(alice, "viewer-group-started")

    bob.get_by_test_id("group-badge").click()
    joinable = bob.get_by_test_id("group-open")
    expect(joinable.get_by_test_id("group-slots-left")).to_have_text("1 slot left")
    joinable.get_by_role("button", name="Join this group").click()

    for page in (alice, bob):
        mine = page.get_by_test_id("group-card")
        expect(mine.get_by_test_id("group-status")).to_have_text("Formed ✓")
        expect(mine.get_by_test_id("group-slots-left")).to_have_text("0 slots left")
        expect(mine.get_by_test_id("group-order")).to_contain_text("reserved at ¥")
    names = alice.get_by_test_id("group-card").get_by_test_id("group-members")
    expect(names).to_contain_text(",")
    screenshot(alice, "viewer-group-formed-alice")
    screenshot(bob, "viewer-group-formed-bob")
    expect(host.get_by_test_id("deal-numbers")).to_contain_text("reserved 2", timeout=10_000)
    expect(host.get_by_test_id("deal-audit")).to_contain_text("balanced")
    screenshot(host, "host-group-deals")


def test_a_share_link_opens_the_group_and_joins_it(pages: Pages) -> None:
    """A friend opening ``?deal=D&group=G`` sees that group's card at once and joins it."""
    host = pages.host()
    alice = pages.viewer()
    host.get_by_test_id("deal-size").fill("2")
    host.get_by_test_id("deal-create").click()
    alice.get_by_test_id("group-badge").click()
    alice.get_by_test_id("group-start").click()
    card = alice.get_by_test_id("group-card")
    expect(card).to_have_attribute("data-group", re.compile(r"-g1$"))
    group = card.get_attribute("data-group")
    deal = group.rpartition("-g")[0] if group else ""

    friend = pages.open(f"/demo/?deal={deal}&group={group}&src=share")
    shared = friend.get_by_test_id("group-card")
    expect(shared).to_have_attribute("data-group", group or "")
    expect(shared.get_by_test_id("group-slots-left")).to_have_text("1 slot left")
    shared.get_by_role("button", name="Join this group").click()
    expect(shared.get_by_test_id("group-status")).to_have_text("Formed ✓")
    expect(card.get_by_test_id("group-status")).to_have_text("Formed ✓")
    screenshot(friend, "viewer-group-share-link")


def test_a_claimed_coupon_goes_with_a_place_and_lowers_the_order(pages: Pages) -> None:
    """Alice claims a ¥3 coupon, picks it on the group card (which shows the price to pay),
    starts a group; when Bob fills it, her order shows ¥3 off, Bob's the group price."""
    host = pages.host()
    alice = pages.viewer()
    bob = pages.viewer()
    host.get_by_test_id("deal-size").fill("2")
    price = round(float(host.locator("#deal-price").input_value()) * 100)
    host.get_by_test_id("deal-create").click()
    host.get_by_test_id("coupon-value").fill("3")
    host.get_by_test_id("coupon-count").fill("5")
    host.get_by_test_id("coupon-issue").click()
    alice.get_by_test_id("coupon-badge").click()
    alice.get_by_test_id("coupon-claim").click()
    expect(alice.get_by_test_id("my-coupons")).to_contain_text("ready to use")
    alice.locator("#coupon-sheet .sheet-close").click()

    alice.get_by_test_id("group-badge").click()
    picker = alice.get_by_test_id("group-coupon")
    expect(picker).to_contain_text("−¥3.00")
    pay = alice.get_by_test_id("group-pay")
    expect(pay).to_have_text(f"You pay ¥{(price - 300) / 100:.2f} (¥3.00 off)")
    picker.select_option(label="No coupon")
    expect(pay).to_have_text(f"You pay ¥{price / 100:.2f}")
    picker.select_option(index=1)
    expect(pay).to_contain_text("¥3.00 off")
    alice.get_by_test_id("group-start").click()
    expect(alice.get_by_test_id("group-coupon-held")).to_contain_text("¥3.00 off")
    screenshot(alice, "viewer-group-coupon-picked")

    bob.get_by_test_id("group-badge").click()
    bob.get_by_test_id("group-open").get_by_role("button", name="Join this group").click()
    order = alice.get_by_test_id("group-card").get_by_test_id("group-order")
    paid = f"you pay ¥{(price - 300) / 100:.2f} (¥3.00 off with your coupon)"
    expect(order).to_contain_text(paid)
    theirs = bob.get_by_test_id("group-card").get_by_test_id("group-order")
    expect(theirs).to_contain_text(f"reserved at ¥{price / 100:.2f}")
    screenshot(alice, "viewer-group-coupon-applied")
    expect(host.get_by_test_id("deal-audit")).to_contain_text("balanced", timeout=10_000)
