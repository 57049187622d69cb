"""The browser fixtures (``tests/browser/conftest.py``) for the coupon card's browser test; in a
package of its own, so that a machine without Playwright skips only this test."""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api")

from tests.browser.conftest import browser, demo_server, pages  # noqa: E402, F401
