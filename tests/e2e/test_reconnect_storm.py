"""5,000 viewers of one node resume at once after the node dies (``loadtest.storm``).

Each test starts a serving node and a publishing node on one Redis, joins the viewers to the
first, kills it (SIGTERM, then SIGKILL in the second test), starts a new node on the same port
and publishes on through the other while the viewers come back. The viewers reconnect as the
JS client does (full jitter, never before a 1013's ``retry_after``) with their offsets. Every
viewer must end with an exact resume or a reset snapshot, never a gap or a repeat; the new node
refuses part of the first join with 1013 at its default admission rate, and the new node must
stay under ``RSS_BOUND_MB``.
"""

from __future__ import annotations

import asyncio
import os
import signal

from loadtest.storm import Crowd, Storm, StormResult, publisher
from tests.servers import API_KEY, SECRET, ServerProcess
from tests.timeouts import scaled

VIEWERS = int(os.environ.get("LIVEROOM_STORM_VIEWERS", "5000"))
#: the new node's peak resident memory with 5,000 viewers back: measured at about 100 MB (see
#: BENCHMARKS.md); the bound leaves room for noise, not for 20 KB more per viewer
RSS_BOUND_MB = 200
#: how long the storm may take to bring every viewer back before the test calls it stuck: a
#: deadline against a hang, not a speed check (the time is a benchmark: BENCHMARKS.md, measured
#: with ``python -m loadtest.storm``; 10-15 s on a quiet 2-core machine)
STUCK_S = 90.0


async def _storm(start_server, redis_server_settings, sig: signal.Signals) -> StormResult:  # type: ignore[no-untyped-def]
    settings = {
        **redis_server_settings,
        "max_conns_per_ip": 0,
        "admit_address_rate": 0,
        "log_level": "warning",
    }
    node: ServerProcess = start_server(**settings)
    other: ServerProcess = start_server(**settings)

    async def kill() -> None:
        assert node.proc is not None
        node.proc.send_signal(sig)
        await asyncio.to_thread(node.wait, 30)

    async def restart() -> int:
        await asyncio.to_thread(node.start)
        assert node.proc is not None
        return node.proc.pid

    publish = await publisher(other.url, API_KEY, "storm")
    crowd = Crowd(node.port, "storm", SECRET, VIEWERS)
    try:
        return await Storm(crowd, kill, restart, publish, sig.name, scaled(STUCK_S)).run()
    finally:
        await crowd.close()


def _check(result: StormResult) -> None:
    print({k: v for k, v in vars(result).items() if k != "stories"})  # the figures (pytest -s)
    assert result.problems == [], result.stories
    assert result.joins.get("fresh", 0) == 0, "every viewer came back with its offset"
    assert result.published_storm > 0, "events were published while the viewers came back"
    assert result.joins.get("resumed", 0) + result.joins.get("reset", 0) >= VIEWERS
    # 5,000 joining at once is over the default admission burst: part of them were refused with
    # 1013 and came back after their retry_after (the storm after the kill is spread by the
    # viewers' jitter, and goes over the rate only on a faster machine)
    assert result.refusals > 0, "1013 was used"
    assert result.peak_rss_mb < RSS_BOUND_MB, result


async def test_viewers_resume_exactly_after_sigterm(start_server, redis_server_settings) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM (close 1012 to all): every viewer resumes exactly or resets, none lost."""
    _check(await _storm(start_server, redis_server_settings, signal.SIGTERM))


async def test_viewers_resume_exactly_after_sigkill(start_server, redis_server_settings) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL (connections just drop): every viewer resumes exactly or resets, none lost."""
    _check(await _storm(start_server, redis_server_settings, signal.SIGKILL))
