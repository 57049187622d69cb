"""The host console's backend-feed panel shows the feed's health (docs/events.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from playwright.sync_api import expect

from liveroom.features.events.endpoints import new_secret
from tests.browser.conftest import Pages
from tests.processes import free_port


@pytest.fixture
def feed_pages(browser: object, start_server: Any) -> Iterator[Pages]:
    """A demo server whose one webhook endpoint is a closed port: every delivery fails."""
    endpoint = {"url": f"http://127.0.0.1:{free_port()}/hook", "secret": new_secret()}
    server = start_server(
        demo=True,
        pulse_s=0.3,
        feed_endpoints=orjson.dumps([endpoint]).decode(),
        feed_backoff_s=0.05,
        feed_backoff_max_s=0.2,
    )
    opener = Pages(browser, server.url)
    yield opener
    opener.close()
    assert not opener.errors, f"uncaught errors in the page: {opener.errors}"


def test_feed_panel_shows_a_failing_endpoint(feed_pages: Pages) -> None:
    """A mute makes a user.muted event; its delivery fails; the panel says so."""
    host = feed_pages.host()
    expect(host.locator('[data-panel="feed"] h2')).to_contain_text("Backend feed")
    expect(host.get_by_test_id("feed-endpoints")).to_contain_text("env-1 → 127.0.0.1")
    host.get_by_test_id("mute-user").fill("troll")
    host.get_by_test_id("mute-send").click()
    expect(host.get_by_test_id("feed-endpoints")).to_contain_text("last error: connect")
    expect(host.locator("#feed-state")).to_have_text("retrying")
    expect(host.get_by_test_id("feed-numbers")).to_contain_text("failed requests")
