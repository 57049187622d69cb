"""The host console against a real server: live numbers, system messages, muting."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.actions import say
from tests.browser.conftest import Pages


def test_console_online_count_moves_when_a_viewer_joins(pages: Pages) -> None:
    """The console's online number and chart follow viewers coming and going."""
    host = pages.host()
    expect(host.get_by_test_id("kpi-online")).to_have_text("1")
    viewer = pages.viewer()
    expect(host.get_by_test_id("kpi-online")).to_have_text("2")
    expect(host.get_by_test_id("chart-online")).to_have_attribute("data-last", "2")
    expect(host.get_by_test_id("kpi-peak")).to_have_text("2")
    viewer.close()
    expect(host.get_by_test_id("kpi-online")).to_have_text("1")
    expect(host.get_by_test_id("kpi-peak")).to_have_text("2")


def test_console_counts_comments_and_likes(pages: Pages) -> None:
    """Comments and likes from a viewer show in the console's numbers and comment list."""
    host = pages.host()
    viewer = pages.viewer()
    say(viewer, "hello host")
    expect(host.get_by_test_id("host-comments")).to_contain_text("hello host")
    expect(host.get_by_test_id("kpi-comments")).to_have_text("1")
    for _ in range(4):
        viewer.get_by_test_id("like").click()
    expect(host.get_by_test_id("kpi-likes")).to_have_text("4")


def test_system_message_reaches_viewers(pages: Pages) -> None:
    """A system message sent from the console shows in the viewer's feed."""
    host = pages.host()
    viewer = pages.viewer()
    host.get_by_test_id("system-text").fill("8点整开抢，库存有限！")
    host.get_by_test_id("system-send").click()
    expect(viewer.locator("#feed .system")).to_contain_text("8点整开抢，库存有限！")


def test_muted_viewer_is_told(pages: Pages) -> None:
    """The host mutes a viewer by tapping their name; that viewer's next comment is refused."""
    host = pages.host()
    viewer = pages.viewer()
    say(viewer, "spam spam")
    host.get_by_test_id("host-comments").get_by_role("button").last.click()
    host.get_by_test_id("mute-send").click()
    expect(host.get_by_test_id("mutes")).to_contain_text("u-")
    say(viewer, "more spam")
    expect(viewer.get_by_test_id("toast").last).to_contain_text("muted")
    expect(host.get_by_test_id("host-comments")).not_to_contain_text("more spam")


def test_pinned_card_pops_up_in_both_viewers(pages: Pages) -> None:
    """A product pinned in the console appears in every viewer; a click counts in the console."""
    host = pages.host()
    alice = pages.viewer()
    bob = pages.viewer()
    host.get_by_test_id("pin-jacket-blue").click()
    for viewer in (alice, bob):
        expect(viewer.get_by_test_id("card")).to_have_count(1)
        expect(viewer.get_by_test_id("card")).to_contain_text("Denim jacket")
        expect(viewer.get_by_test_id("card")).to_contain_text("199.00")
    alice.get_by_test_id("card").click()
    expect(host.get_by_test_id("kpi-clicks")).to_have_text("1")
    host.get_by_test_id("unpin-jacket-blue").click()
    expect(bob.get_by_test_id("card")).to_have_count(0)
