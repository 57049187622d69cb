"""A busy room, for the screenshots in artifacts/screenshots/ (viewer page and host console)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.actions import grab, say, start_sale
from tests.browser.conftest import Pages, screenshot


def test_busy_room_screenshots(pages: Pages) -> None:
    """Cards, a sale, a lucky bag, chatter and likes: every panel shows real numbers."""
    host = pages.host()
    alice = pages.viewer(scale=2)
    bob = pages.viewer()
    host.get_by_test_id("pin-jacket-blue").click()
    start_sale(host, stock=30, limit=2)
    expect(alice.get_by_test_id("card")).to_have_count(2)
    grab(bob)
    expect(bob.get_by_test_id("buy-answer")).to_contain_text("Got it!")
    bob.get_by_test_id("pay").click()
    expect(bob.get_by_test_id("orders")).to_contain_text("Paid")
    bob.locator("#sale-sheet [data-close]").click()
    host.get_by_test_id("bag-duration").fill("300")
    host.get_by_test_id("bag-create-open").click()
    expect(alice.get_by_test_id("bag-badge")).to_be_visible()
    host.get_by_test_id("system-text").fill("秒杀开始！每人限购2件 ⚡")
    host.get_by_test_id("system-send").click()
    for who, line in (
        (bob, "主播好！"),
        (alice, "Is the blue jacket true to size?"),
        (bob, "抢到了！好开心 ❤️"),
        (alice, "求讲解一下鞋子的尺码"),
        (bob, "<b>not bold</b> — shows as text"),
    ):
        say(who, line)
        expect(alice.get_by_test_id("feed")).to_contain_text(line)
    for _ in range(7):
        alice.get_by_test_id("like").click()
    expect(host.get_by_test_id("kpi-likes")).to_have_text("7")
    expect(host.get_by_test_id("kpi-paid")).to_have_text("1")
    expect(alice.get_by_test_id("card-stock").first).to_have_text("29 left")
    screenshot(alice, "viewer")
    screenshot(host, "console")
    host.set_viewport_size({"width": 1440, "height": 2000})
    screenshot(host, "console-full")
