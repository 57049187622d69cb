"""Browser fixtures: Debian's Chromium driven by Playwright, against real ``liveroom serve``.

Playwright's own browser downloads are not used: Chromium comes from the ``chromium`` apt
package (``LIVEROOM_CHROMIUM`` points elsewhere). Tests skip when either is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest import netns
from tests.servers import ServerProcess
from tests.timeouts import scaled

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("LIVEROOM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    """One headless Chromium for the browser tests; stopped when they are done, so that its
    event loop is gone before the asyncio tests of the other packages run."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") or os.environ.get("LIVEROOM_REQUIRE_REDIS"):
            pytest.fail(f"no Chromium at {CHROMIUM}: scripts/test installs it")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        playwright_sync.expect.set_options(timeout=scaled(8_000))
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def steady_network() -> Iterator[None]:
    """Chromium aborts what it is loading when the machine's network changes
    (``net::ERR_NETWORK_CHANGED``), as a ``--netns`` test on the other worker changes it when it
    makes or removes its veth pair: no browser test runs while such a namespace exists."""
    with netns.network_steady():
        yield


@pytest.fixture
def demo_server(start_server) -> ServerProcess:  # type: ignore[no-untyped-def]
    """A ``liveroom serve`` process with the demo pages and demo tokens on."""
    return start_server(demo=True, pulse_s=0.3)  # type: ignore[no-any-return]


class Pages:
    """Opens pages in fresh browser contexts (a context per user: its own sessionStorage)."""

    def __init__(self, browser: object, base: str) -> None:
        self.browser = browser
        self.base = base
        self.contexts: list[object] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        #: what the pages' consoles said as errors, and the requests that failed: told when a
        #: page never gets going (a module script that did not load runs nothing, and raises
        #: no page error)
        self.trouble: list[str] = []

    def open(
        self, path: str = "/demo/", *, phone: bool = True, scale: int = 1
    ) -> playwright_sync.Page:
        viewport = PHONE if phone else {"width": 1440, "height": 960}
        # Reduced motion stops the decorative background animation: software rendering of it
        # makes every screenshot slow.
        context = self.browser.new_context(  # type: ignore[attr-defined]
            viewport=viewport, device_scale_factor=scale, reduced_motion="reduce"
        )
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(scaled(8_000))
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)
        page.on("requestfailed", lambda r: self.trouble.append(f"{r.url}: {r.failure}"))
        page.goto(self.base + path)
        return page

    def viewer(self, scale: int = 1) -> playwright_sync.Page:
        """A viewer page, connected (its online count is drawn from the snapshot). The status
        line starts hidden, before the page has even tried to connect, so the page's own
        record of its connection (``data-live`` on the body) is what is waited for."""
        page = self.open("/demo/", scale=scale)
        try:
            playwright_sync.expect(page.locator("body")).to_have_attribute("data-live", "open")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nthe pages' troubles so far: {self.trouble}") from exc
        playwright_sync.expect(page.get_by_test_id("status")).to_be_hidden()
        return page

    def host(self) -> playwright_sync.Page:
        """The host console, connected."""
        page = self.open("/demo/host.html", phone=False)
        playwright_sync.expect(page.get_by_test_id("status")).to_have_text("live")
        return page

    def _console(self, message: playwright_sync.ConsoleMessage) -> None:
        if message.type == "error":
            self.trouble.append(f"console: {message.text}")

    def _dialog(self, dialog: playwright_sync.Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def close(self) -> None:
        for context in self.contexts:
            context.close()  # type: ignore[attr-defined]


@pytest.fixture
def pages(browser: object, demo_server: ServerProcess) -> Iterator[Pages]:
    """Page opener for the demo server; fails the test on uncaught page errors."""
    opener = Pages(browser, demo_server.url)
    yield opener
    opener.close()
    assert not opener.errors, f"uncaught errors in the page: {opener.errors}"


def screenshot(page: playwright_sync.Page, name: str) -> Path:
    """Save a screenshot under artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), timeout=scaled(30_000))
    return path
