"""What a person does on the pages, shared by the browser tests: comment, start a sale, buy."""

from __future__ import annotations

from playwright.sync_api import Page


def say(page: Page, text: str) -> None:
    """Type a comment in a viewer page and send it."""
    page.get_by_test_id("comment-input").fill(text)
    page.get_by_test_id("send").click()


def start_sale(host: Page, *, stock: int, limit: int = 1, now: bool = True) -> None:
    """In the host console: a flash sale of the red sneakers, opened at once unless ``now`` is
    False."""
    host.get_by_test_id("sale-sku").select_option("sneaker-red")
    host.get_by_test_id("sale-stock").fill(str(stock))
    host.get_by_test_id("sale-limit").fill(str(limit))
    host.get_by_test_id("sale-create-open" if now else "sale-create").click()


def grab(viewer: Page) -> None:
    """In a viewer page: open the red sneakers' card and press buy."""
    viewer.locator("[data-testid=card][data-sku=sneaker-red]").click()
    viewer.get_by_test_id("buy").click()
