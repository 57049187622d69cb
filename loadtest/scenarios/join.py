"""``join``: N viewers connect as fast as the client processes can open them; each must get its
snapshot. Reports the storm's length, joins per second and connect→snapshot latency."""

from __future__ import annotations

from typing import Any

from loadtest import results
from loadtest.run import Run


async def run(r: Run) -> dict[str, Any]:
    opts = r.opts
    r.base = r.usage()
    joined = await r.connect(opts.viewers, nobody_fails=False)
    r.idle = r.usage()
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
