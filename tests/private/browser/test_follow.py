"""Acceptance 5 of issue 22 (private traffic): on the demo pages a viewer books the scheduled
live and follows the host; the invite card opens on that viewer's page alone, while the other
viewer sees only the follower count; the host console shows both. Screenshots go to
artifacts/screenshots/."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Pages, screenshot
from tests.servers import API_KEY, ServerProcess
from tests.timeouts import scaled

BACKEND = {"Authorization": f"Bearer {API_KEY}"}
INVITE = {
    "message": "Join the Longjing tea club: tastings every Friday",
    "link": "https://example.com/tea-club",
    "image": "/demo/img/qr-demo.svg",
}


def setup_room(server: ServerProcess) -> None:
    """The host's invite card, and the demo room's next live scheduled (the room has no
    settings yet: it is upcoming)."""
    with httpx.Client(base_url=server.url, headers=BACKEND, timeout=scaled(10)) as http:
        card = http.put("/api/rooms/demo/private-cards/invite", json=INVITE)
        assert card.status_code == 200, card.text
        live = http.put("/api/rooms/demo/booking", json={"title": "Friday tea live"})
        assert live.status_code == 200, live.text


def test_a_follow_brings_the_invite_card_to_that_viewer_only(
    pages: Pages, demo_server: ServerProcess
) -> None:
    """Alice books and follows: her page shows the invite card (message, QR, link) and
    "Following"; Bob's shows one follower and no card; the host console counts both."""
    setup_room(demo_server)
    alice, bob = pages.viewer(), pages.viewer()
    for page in (alice, bob):
        expect(page.get_by_test_id("followers")).to_have_text("0 followers")
        expect(page.get_by_test_id("booking")).to_contain_text("Friday tea live")

    alice.get_by_test_id("book").click()
    expect(alice.get_by_test_id("book")).to_have_text("Booked ✓")

    alice.get_by_test_id("follow").click()
    card = alice.get_by_test_id("invite-card")
    expect(card).to_be_visible()
    expect(alice.get_by_test_id("invite-message")).to_have_text(INVITE["message"])
    expect(alice.get_by_test_id("invite-link")).to_have_attribute("href", INVITE["link"])
    expect(alice.get_by_test_id("invite-image")).to_have_attribute("src", INVITE["image"])
    expect(alice.get_by_test_id("follow")).to_have_text("Following")
    expect(bob.get_by_test_id("followers")).to_have_text("1 follower")
    screenshot(alice, "private-follow-invite-card")

    # Bob has seen the count that followed Alice's card; a comment from him, seen back on his
    # own page, is one more event after it: still no card
    bob.get_by_test_id("comment-input").fill("nice tea")
    bob.get_by_test_id("send").click()
    expect(bob.get_by_test_id("feed")).to_contain_text("nice tea")
    expect(bob.get_by_test_id("invite-card")).to_have_count(0)
    expect(bob.get_by_test_id("private-sheet")).to_be_hidden()
    expect(bob.get_by_test_id("follow")).to_have_text("+ Follow")
    screenshot(bob, "private-follow-other-viewer")

    host = pages.host()
    panel = host.locator('[data-panel="private"]')
    expect(panel).to_be_visible()
    expect(host.get_by_test_id("host-followers")).to_have_text("1 follower")
    expect(host.get_by_test_id("host-booking")).to_contain_text("1 booked")
    expect(host.get_by_test_id("private-cards")).to_contain_text(INVITE["message"])
    panel.scroll_into_view_if_needed()
    screenshot(host, "private-host-panel")
