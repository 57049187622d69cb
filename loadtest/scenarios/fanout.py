"""``fanout``: N viewers in one room, commenters at R comments/s, for T seconds.

Measures the hot path: every accepted comment is one room event that each viewer must receive
exactly once (offsets), in frames the hub builds once per tick.
"""

from __future__ import annotations

from typing import Any

from loadtest import results
from loadtest.run import Run


async def run(r: Run) -> dict[str, Any]:
    opts = r.opts
    if opts.comment_cap is not None:
        await r.target.http("PUT", f"/api/rooms/{r.room}", {"comment_cap": opts.comment_cap})
    r.base = r.usage()
    joined = await r.connect(opts.viewers)
    r.idle = r.usage()
    # ticks the server's flushes ran past (one process answers ``/metrics``): while the viewers
    # joined, and in the traffic's window, which the frame rate is measured over
    overruns_joining = await r.target.metric("liveroom_tick_overruns")
    start = r.usage()
    head = await r.traffic(
        opts.duration, comment_rate=opts.rate, bucket_s=max(1.0, opts.duration / 120)
    )
    drained = await r.drain(head)
    end = r.usage()
    overruns = await r.target.metric("liveroom_tick_overruns")
    head = drained["head"]
    merged = await r.report(head)
    return results.summarize(
        "fanout",
        merged,
        window_s=(end.at - start.at) if end and start else opts.duration,
        cpu_s=(end.cpu_s - start.cpu_s) if end and start else None,
        rss=end.rss if end else None,
        rss_idle=r.idle.rss if r.idle else None,
        rss_base=r.base.rss if r.base else None,
        shed=await r.shed(),
        extra={
            "rate": opts.rate,
            "duration_s": opts.duration,
            "head": head,
            "join_s": round(joined["all_s"], 3),
            "snapshots_expected": opts.viewers,
            "behind_at_end": drained["behind"],
            # with several processes each reading may come from another one: its total then
            "tick_overruns": (
                overruns - overruns_joining
                if overruns is not None and overruns_joining is not None and opts.processes == 1
                else overruns
            ),
            "tick_overruns_joining": overruns_joining,
            "frames_per_viewer_s": (
                round(merged["frames"] / opts.viewers / opts.duration, 2) if opts.viewers else None
            ),
            "server_system_us_per_frame": (
                round((end.system_s - start.system_s) / merged["frames"] * 1e6, 3)
                if end and start and merged["frames"]
                else None
            ),
        },
    )
