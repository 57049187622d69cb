"""``join``: N viewers connect as fast as the client processes can open them; each must get its
snapshot. Reports the storm's length, joins per second and connect→snapshot latency. With
``--duration``, the viewers then stay connected and silent that long, and the server's CPU per
second of that hold is reported too (``idle_cpu_per_s``: keep-alive pings and pulses)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from loadtest import results
from loadtest.run import Run


async def run(r: Run) -> dict[str, Any]:
    opts = r.opts
    r.base = r.usage()
    joined = await r.connect(opts.viewers, nobody_fails=False)
    r.idle = r.usage()
    hold = opts.duration or 0.0
    idle_cpu_per_s = None
    if hold > 0 and r.idle is not None:
        began = time.monotonic()
        await asyncio.sleep(hold)  # the measured window itself: the viewers sit idle in it
        after = r.usage()
        if after is not None:
            idle_cpu_per_s = round((after.cpu_s - r.idle.cpu_s) / (time.monotonic() - began), 4)
    merged = await r.report(0)
    merged["latency"] = merged["join_latency"]  # the latency of this scenario is the join's
    base, idle = r.base, r.idle
    summary = results.summarize(
        "join",
        merged,
        window_s=joined["all_s"],
        cpu_s=(idle.cpu_s - base.cpu_s) if idle and base else None,
        rss=idle.rss if idle else None,
        rss_idle=idle.rss if idle else None,
        rss_base=base.rss if base else None,
        shed=0,
        extra={
            "join_s": round(joined["all_s"], 3),
            "joins_per_s": round(joined["snapshots"] / joined["all_s"], 1)
            if joined["all_s"]
            else 0.0,
            "snapshots_expected": opts.viewers,
            "hold_s": hold,
            "idle_cpu_per_s": idle_cpu_per_s,
        },
    )
    # for a join storm, what is expected and delivered is one snapshot per viewer
    summary["expected"] = opts.viewers
    summary["delivered"] = joined["snapshots"]
    summary["lost"] = opts.viewers - joined["snapshots"]
    summary["frames"] = joined["snapshots"]
    summary["frames_per_s"] = summary["joins_per_s"]
    cpu = summary["server_cpu_s"]
    summary["server_cpu_us_per_frame"] = (
        round(cpu / joined["snapshots"] * 1e6, 1)
        if cpu is not None and joined["snapshots"]
        else None
    )
    return summary
