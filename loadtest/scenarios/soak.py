"""``soak``: mixed traffic for a long run, with the server's memory tracked.

Viewers comment (R/s), like (``--like-rate``) and reconnect, resuming from their last offset
(``--churn-rate`` per second), for T seconds. The server's RSS is sampled throughout; the summary
gives the series and the growth from the moment all viewers were connected.
"""

from __future__ import annotations

from typing import Any

from loadtest import results
from loadtest.run import Run


async def run(r: Run) -> dict[str, Any]:
    opts = r.opts
    r.base = r.usage()
    joined = await r.connect(opts.viewers)
    r.idle = r.usage()
    start = r.usage()
    head = await r.traffic(
        opts.duration,
        comment_rate=opts.rate,
        like_rate=opts.like_rate,
        churn_rate=opts.churn_rate,
        bucket_s=max(1.0, opts.duration / 120),
    )
    drained = await r.drain(head)
    end = r.usage()
    head = drained["head"]
    merged = await r.report(head)
    growth = None
    if end is not None and r.idle is not None:
        growth = round((end.rss - r.idle.rss) / 2**20, 1)
    return results.summarize(
        "soak",
        merged,
        window_s=(end.at - start.at) if end and start else opts.duration,
        cpu_s=(end.cpu_s - start.cpu_s) if end and start else None,
        rss=end.rss if end else None,
        rss_idle=r.idle.rss if r.idle else None,
        rss_base=r.base.rss if r.base else None,
        shed=await r.shed(),
        extra={
            "rate": opts.rate,
            "like_rate": opts.like_rate,
            "churn_rate": opts.churn_rate,
            "duration_s": opts.duration,
            "head": head,
            "join_s": round(joined["all_s"], 3),
            "reconnects": merged["private"].get("reconnect", 0),
            "rss_series": r.rss_series,
            "rss_growth_mb": growth,
            "snapshots_expected": opts.viewers,
            "behind_at_end": drained["behind"],
        },
    )
