"""``flashsale``: B buyers race for S units (``liveroom.features.flashsale``).

Each buyer connects, then all send ``attempts`` buys at once (``--limit`` + 1 each, so the
per-user limit is tried), over WebSocket. The sale's audit endpoint then says what the store
holds; the harness checks it against what the buyers were told:

- oversold: units granted beyond the stock (by the answers, or the audit's balance);
- undersold: units left unsold although more were asked for than there were;
- limit violations: buyers holding more than the limit (answers or audit).

``latency_ms`` is the buy's command→reply latency here; ``sale`` events still count for loss.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from loadtest import results
from loadtest.run import Run
from loadtest.server import HttpError, SetupError


async def feed_report(r: Run, audit: dict[str, Any], since: float) -> dict[str, Any] | None:
    """With ``--feed``: wait (at most a minute) until the local receiver holds an
    ``order.reserved`` for every order in the audit, then say what arrived and how fast."""
    receiver = r.target.feed
    if receiver is None:
        return None
    orders = int(audit.get("orders", 0))
    deadline = time.monotonic() + 120
    while receiver.types.get("order.reserved", 0) < orders and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # the receiver runs in this loop: poll its count
    out = receiver.summary(since)
    got = out["types"].get("order.reserved", 0)
    out["failures"] = [] if got == orders else [f"feed: {got} order.reserved of {orders} orders"]
    if out["bad_signatures"]:
        out["failures"].append(f"feed: {out['bad_signatures']} bad signatures")
    return out


async def run(r: Run) -> dict[str, Any]:
    opts = r.opts
    buyers = opts.buyers or opts.viewers
    stock, limit = opts.stock, opts.limit
    sale = "lt-" + secrets.token_hex(4)
    try:
        await r.target.http(
            "POST",
            f"/api/rooms/{r.room}/sales",
            {
                "id": sale,
                "sku": sale,
                "title": "load test",
                "price": 100,
                "stock": stock,
                "limit": limit,
                "open": True,
            },
        )
    except HttpError as exc:
        if exc.status in (404, 405):
            raise SetupError("feature not available: the server has no flash-sale API") from None
        raise
    r.base = r.usage()
    joined = await r.connect(buyers, prefix="b")
    r.idle = r.usage()
    attempts = limit + 1
    start = r.usage()
    started = time.time()
    per_proc_rate = opts.buy_rate / r.pool.size
    answers = await r.phase(
        f"{buyers:,} buyers x {attempts}",
        r.pool.all(
            "buy", 120, sale=sale, attempts=attempts, quantity=1, rate=per_proc_rate, settle=30.0
        ),
        buyers * attempts,
        "answered",
    )
    end = r.usage()
    audit = await r.target.http("GET", f"/api/rooms/{r.room}/sales/{sale}/audit")
    if r.target.feed is not None and not r.target.feed.open:
        r.target.feed.release()
    feed = await feed_report(r, audit, started)
    head = await r.sentinel(0.5)
    head = (await r.drain(head))["head"]
    merged = await r.report(head)
    merged["latency"] = merged["reply_latency"]

    granted: dict[str, int] = {}
    codes: dict[str, int] = {}
    for answer in answers:
        for user, units in answer["granted"].items():
            granted[user] = granted.get(user, 0) + units
        for code, n in answer["codes"].items():
            codes[code] = codes.get(code, 0) + n
    sent = sum(a["sent"] for a in answers)
    window = max(a["last"] for a in answers) - min(a["first"] for a in answers)
    units = sum(granted.values())
    demand = buyers * limit
    held = int(audit.get("reserved", 0)) + int(audit.get("paid", 0))
    left = int(audit.get("stock", 0))
    oversold = max(units - stock, held - stock, 0) + (0 if audit.get("balanced", True) else 1)
    undersold = left if demand >= stock and left > 0 else max(min(demand, stock) - held, 0)
    over_limit = {u for u, n in granted.items() if n > limit} | set(audit.get("over_limit", []))
    mismatch = [] if units == held else [f"buyers were granted {units} units, store holds {held}"]
    return results.summarize(
        "flashsale",
        merged,
        window_s=(end.at - start.at) if end and start else window,
        cpu_s=(end.cpu_s - start.cpu_s) if end and start else None,
        rss=end.rss if end else None,
        rss_idle=r.idle.rss if r.idle else None,
        rss_base=r.base.rss if r.base else None,
        shed=0,
        extra={
            "buyers": buyers,
            "stock": stock,
            "limit": limit,
            "attempts": sent,
            "reserved": int(audit.get("reserved", 0)),
            "granted": units,
            "stock_left": left,
            "oversold": oversold,
            "undersold": undersold,
            "limit_violations": len(over_limit),
            "buy_answers": codes,
            "buys_per_s": round(sent / window, 1) if window > 0 else 0.0,
            "buy_window_s": round(window, 3),
            "audit": audit,
            "join_s": round(joined["all_s"], 3),
            "snapshots_expected": buyers,
            "feed": feed,
            "failures_extra": mismatch
            + ([] if audit.get("ok", True) else ["audit not ok"])
            + (feed or {}).get("failures", []),
            "measured_at": time.time(),
        },
    )
