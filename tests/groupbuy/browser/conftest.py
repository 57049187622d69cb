"""The browser tests' fixtures (``tests/browser/conftest.py``), declared for this package so
that its one Chromium, and Playwright's event loop, are gone before the asyncio tests run."""

from tests.browser.conftest import browser, demo_server, pages

__all__ = ["browser", "demo_server", "pages"]
