"""The viewer page against a real server: comments, likes, online count, reconnect, no XSS."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.actions import say
from tests.browser.conftest import Pages
from tests.servers import ServerProcess
from tests.timeouts import scaled


def test_comment_reaches_the_other_viewer(pages: Pages) -> None:
    """A comment typed in one viewer page shows in the other."""
    alice = pages.viewer()
    bob = pages.viewer()
    say(alice, "这件外套还有M码吗？")
    expect(bob.get_by_test_id("feed")).to_contain_text("这件外套还有M码吗？")
    expect(alice.get_by_test_id("feed")).to_contain_text("这件外套还有M码吗？")


def test_online_count_and_likes_move(pages: Pages) -> None:
    """Two viewers see online 2; a like in one raises the total in the other."""
    alice = pages.viewer()
    bob = pages.viewer()
    expect(alice.get_by_test_id("online")).to_have_text("2")
    for _ in range(3):
        alice.get_by_test_id("like").click()
    expect(bob.get_by_test_id("likes")).to_have_text("3")


def test_comment_markup_is_text(pages: Pages) -> None:
    """A comment holding HTML shows as text and runs nothing."""
    alice = pages.viewer()
    bob = pages.viewer()
    evil = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    say(alice, evil)
    expect(bob.get_by_test_id("feed").locator(".text").last).to_have_text(evil)
    expect(bob.locator("#feed img")).to_have_count(0)
    expect(bob.locator("#feed script")).to_have_count(0)
    # A ping round trip after the comment: any alert would have fired by now.
    bob.evaluate("window.liveroom.send('ping')")
    assert pages.dialogs == []


def test_pages_reconnect_after_server_restart(pages: Pages, demo_server: ServerProcess) -> None:
    """Killing and restarting the server: pages show reconnecting, come back, and work again."""
    alice = pages.viewer()
    bob = pages.viewer()
    say(alice, "before the restart")
    expect(bob.get_by_test_id("feed")).to_contain_text("before the restart")
    demo_server.kill()
    expect(alice.get_by_test_id("status")).to_contain_text("Reconnecting")
    demo_server.start()
    # A page that kept failing while the server was down waits up to its backoff's ceiling
    # before the next try: the wait covers that ceiling, then the usual deadline for the open.
    ceiling_ms = alice.evaluate("window.liveroom.options.backoffMaxMs")
    assert ceiling_ms == bob.evaluate("window.liveroom.options.backoffMaxMs")
    back_in = ceiling_ms + scaled(8_000)
    expect(alice.get_by_test_id("status")).to_be_hidden(timeout=back_in)
    expect(bob.get_by_test_id("status")).to_be_hidden(timeout=back_in)
    say(bob, "after the restart")
    expect(alice.get_by_test_id("feed")).to_contain_text("after the restart")
    expect(alice.get_by_test_id("online")).to_have_text("2")
