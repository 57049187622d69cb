"""Acceptance 4: the console's live diagnosis during a scripted live, and the report page after
it, show the server's numbers; screenshots of both go to artifacts/screenshots/."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import httpx
import orjson
import websockets.sync.client
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, Pages, screenshot
from tests.liveclient import token
from tests.servers import API_KEY, ServerProcess
from tests.timeouts import scaled, wait_until

ROOM = "demo"
SKU = "tea-longjing"
PRICE = 12800
_ids = itertools.count(1)


class Viewer:
    """A viewer on a blocking WebSocket: commands wait for their reply."""

    def __init__(self, server: ServerProcess, user: str, src: str) -> None:
        url = f"{server.ws_url}?room={ROOM}&token={token(user, ROOM)}&src={src}"
        self._open = contextlib.ExitStack()
        self.ws = self._open.enter_context(
            websockets.sync.client.connect(url, open_timeout=scaled(10))
        )

    def command(self, kind: str, **fields: Any) -> dict[str, Any]:
        rid = f"b{next(_ids)}"
        self.ws.send(orjson.dumps({"type": kind, "id": rid, **fields}).decode())
        while True:
            for item in orjson.loads(self.ws.recv(timeout=scaled(10))):
                if item.get("type") == "reply" and item.get("id") == rid:
                    assert item["ok"], item
                    return dict(item)

    def close(self) -> None:
        self._open.close()


def api(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    reply = httpx.request(
        method,
        f"{server.url}/api/rooms/{ROOM}{path}",
        json=body,
        headers={"authorization": f"Bearer {API_KEY}"},
        timeout=scaled(10),
    )
    assert reply.status_code == 200, reply.text[:300]
    return reply.json()


def test_console_and_report_page_show_the_servers_numbers(
    pages: Pages, demo_server: ServerProcess
) -> None:
    """A scripted live: three viewers, a comment, likes, a share, a click, a paid order and ad
    spend entered in the console; the console, then the report page, show the server's figures."""
    card = {"sku": SKU, "title": "Longjing tea", "price": PRICE, "image": "/demo/img/tea.svg"}
    api(demo_server, "POST", "/cards", card)
    sale = {"id": "tea1", "sku": SKU, "title": "Longjing tea", "price": PRICE, "stock": 10}
    api(demo_server, "POST", "/sales", {**sale, "limit": 2, "open": True})
    host = pages.host()

    viewers = [Viewer(demo_server, f"b{n}", src) for n, src in enumerate(("feed", "share", "ad"))]
    viewers[0].command("comment", text="好茶")
    viewers[1].command("like", count=5)
    viewers[2].command("share")
    viewers[0].command("card_click", sku=SKU)
    order = viewers[0].command("buy", sale="tea1", quantity=1, request_id="q1")["order"]
    api(demo_server, "POST", f"/sales/tea1/orders/{order}/confirm")

    host.get_by_test_id("spend-yuan").fill("50")
    host.get_by_test_id("spend-send").click()
    expect(host.get_by_test_id("an-unique")).to_have_text("3")
    expect(host.get_by_test_id("an-gmv")).to_have_text(f"¥{PRICE / 100:.2f}")
    expect(host.get_by_test_id("an-roi")).to_have_text(f"{PRICE / 5000:.2f}")
    expect(host.get_by_test_id("an-interaction")).to_have_text("100.0%")
    report = api(demo_server, "GET", "/report")
    assert report["audience"]["unique_viewers"] == 3
    assert report["money"] == {
        **report["money"],
        "gmv": PRICE,
        "ad_spend": 5000,
        "roi": round(PRICE / 5000, 4),
    }
    assert report["sources"]["private"] == 1
    expect(host.get_by_test_id("an-online")).to_have_text(f"3 / {report['audience']['peak']}")
    expect(host.locator("[data-testid=an-heatmap] rect[data-clicks='1']")).to_have_count(1)
    host.get_by_test_id("analytics").scroll_into_view_if_needed()
    assert screenshot(host, "analytics-console").stat().st_size > 10_000

    for viewer in viewers:
        viewer.close()
    api(demo_server, "PATCH", "", {"ended": True})
    # the page reads the report once: open it when the server has counted the viewers gone
    wait_until(
        lambda: api(demo_server, "GET", "/report")["audience"]["online"] == 0,
        15,
        "the report's online count back to 0",
    )

    page = pages.open(f"/demo/report.html?room={ROOM}", phone=False)
    expect(page.get_by_test_id("report-room")).to_have_text(ROOM)
    expect(page.get_by_test_id("report-when")).to_contain_text("ended")
    expect(page.get_by_test_id("an-unique")).to_have_text("3")
    expect(page.get_by_test_id("an-online")).to_have_text(f"0 / {report['audience']['peak']}")
    expect(page.get_by_test_id("an-gmv")).to_have_text(f"¥{PRICE / 100:.2f}")
    expect(page.get_by_test_id("an-products-table")).to_contain_text(SKU)
    expect(page.locator("[data-testid=an-heatmap] rect[data-clicks='1']")).to_have_count(1)
    expect(page.get_by_test_id("an-sources").locator("svg rect")).not_to_have_count(0)
    after = api(demo_server, "GET", "/report")
    assert after["ended"] is True
    assert after["watch"]["average_s"] > 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    whole = SCREENSHOTS / "analytics-report.png"
    page.screenshot(path=str(whole), full_page=True, timeout=scaled(30_000))
    assert whole.stat().st_size > 10_000


def test_viewer_page_sends_its_source_and_shares(pages: Pages, demo_server: ServerProcess) -> None:
    """A viewer who came by a group link and taps share counts as source "group" and a share."""
    viewer = pages.open(f"/demo/?src=group&room={ROOM}")
    expect(viewer.get_by_test_id("status")).to_be_hidden()
    viewer.get_by_test_id("share").click()

    def counted() -> bool:
        report = httpx.get(
            f"{demo_server.url}/api/rooms/{ROOM}/report",
            headers={"authorization": f"Bearer {API_KEY}"},
            timeout=scaled(5),
        )
        if report.status_code != 200:
            return False
        body = report.json()
        return bool(body["interaction"]["shares"] == 1 and body["sources"]["by_source"]["group"])

    wait_until(counted, 10, "the share and the source were not counted")
    report = api(demo_server, "GET", "/report")
    assert report["sources"]["by_source"]["group"] == 1
    assert report["audience"]["unique_viewers"] == 1
