"""``luckybag``: N viewers join a lucky bag and the draw completes (``liveroom.features.luckybag``).

The bag opens with a ``--duration`` countdown; every viewer sends ``bag_join``; the server's
timers draw it at the deadline. Checked:

- exactly once: every viewer sees one ``bag_drawn`` (one winner list), and each winner gets one
  private ``bag_won``;
- verified: the seed revealed at the draw hashes to the ``seed_hash`` viewers saw when the bag
  opened; the proof's participants are exactly the viewers whose join was accepted; and the
  winners, recomputed here from the seed and the sorted participants (``docs/luckybag.md``),
  are the ones announced and told.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from loadtest import results
from loadtest.run import Run
from loadtest.server import HttpError, SetupError


def recompute(seed: str, participants: list[str], ineligible: list[str], count: int) -> list[str]:
    """The published recipe, written out independently of the server's code."""
    pool = sorted(set(participants) - set(ineligible))
    winners = []
    for i in range(min(count, len(pool))):
        digest = hashlib.sha256(f"{seed}:{i}".encode()).digest()
        winners.append(pool.pop(int.from_bytes(digest, "big") % len(pool)))
    return winners


async def run(r: Run) -> dict[str, Any]:
    opts = r.opts
    viewers = opts.viewers
    duration = int(opts.duration or 5)
    r.base = r.usage()
    joined = await r.connect(viewers)
    r.idle = r.usage()
    start = r.usage()
    try:
        created = await r.target.http(
            "POST",
            f"/api/rooms/{r.room}/bags",
            {
                "prize": "load-test prize",
                "value_fen": 100,
                "winners": opts.winners,
                "duration_s": duration,
                "join": "tap",
                "open": True,
            },
        )
    except HttpError as exc:
        if exc.status in (404, 405):
            raise SetupError("feature not available: the server has no lucky-bag API") from None
        raise
    bag = created["bag"]["id"]
    shares = r.pool.split(viewers)
    answers = await r.phase(
        f"{viewers:,} joining",
        r.pool.all(
            "command",
            120,
            per=[{"fields": [{"bag": bag}] * n} for n in shares],
            kind="bag_join",
            rate=0.0,
            settle=30.0,
        ),
        viewers,
        "answered",
    )
    accepted = {a["id"] for batch in answers for a in batch["answers"] if a.get("ok")}
    accepted_n = len(accepted)
    drawn = await r.phase(
        "waiting for the draw",
        r.pool.all(
            "seen",
            duration + 60,
            per=[{"count": n} for n in shares],
            kind="bag_drawn",
            timeout=duration + 30.0,
        ),
        duration + 5,
    )
    head = await r.sentinel(0.2)
    head = (await r.drain(head))["head"]
    proof = await r.target.http("GET", f"/api/rooms/{r.room}/bags/{bag}/proof")
    won = await _wins(r, len(proof.get("result") or []))
    opened = await r.pool.all("seen", 10, kind="bag", count=0, timeout=0.0)
    end = r.usage()
    merged = await r.report(head)

    drawn_events = [e for batch in drawn for e in batch["events"]]
    per_viewer: dict[str, int] = {}
    for e in drawn_events:
        per_viewer[e["_user"]] = per_viewer.get(e["_user"], 0) + 1
    lists = {tuple(w["id"] for w in e["bag"].get("winner_list", [])) for e in drawn_events}
    winners_told: dict[str, int] = {}
    for e in won:
        if e.get("bag") == bag:
            winners_told[e["_user"]] = winners_told.get(e["_user"], 0) + 1
    result = list(proof.get("result") or [])
    exactly_once = (
        len(per_viewer) == joined["snapshots"]
        and all(n == 1 for n in per_viewer.values())
        and len(lists) == 1
        and all(n == 1 for n in winners_told.values())
        and set(winners_told) == set(result)
    )

    problems = []
    hashes = {
        e["bag"].get("seed_hash")
        for b in opened
        for e in b["events"]
        if e["bag"].get("id") == bag and e["bag"].get("seed_hash")
    }
    seed = proof.get("seed") or ""
    if not seed or hashes != {hashlib.sha256(seed.encode()).hexdigest()}:
        problems.append("revealed seed does not match the seed hash published at opening")
    participants = list(proof.get("participants") or [])
    joined_users = {f"v{i}" for i in range(viewers)} if accepted_n == viewers else None
    if joined_users is not None and set(participants) != joined_users:
        problems.append("proof participants differ from the viewers whose join was accepted")
    expect = recompute(
        seed, participants, list(proof.get("ineligible") or {}), int(proof.get("winners", 0))
    )
    if expect != result:
        problems.append("winners recomputed from seed and participants differ from the result")
    if lists and lists != {tuple(result)}:
        problems.append("announced winner list differs from the proof")

    summary = results.summarize(
        "luckybag",
        merged,
        window_s=(end.at - start.at) if end and start else duration,
        cpu_s=(end.cpu_s - start.cpu_s) if end and start else None,
        rss=end.rss if end else None,
        rss_idle=r.idle.rss if r.idle else None,
        rss_base=r.base.rss if r.base else None,
        shed=0,
        extra={
            "bag": bag,
            "participants": len(participants),
            "joins_accepted": accepted_n,
            "winners": len(result),
            "winners_told": sum(winners_told.values()),
            "drawn_events": len(drawn_events),
            "exactly_once": exactly_once,
            "verified": not problems,
            "verify_detail": "; ".join(problems) or "ok",
            "join_s": round(joined["all_s"], 3),
            "snapshots_expected": viewers,
            "measured_at": time.time(),
        },
    )
    summary["latency_ms"] = summary["reply_latency_ms"]  # bag_join command → reply
    return summary


async def _wins(r: Run, winners: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The private ``bag_won`` notices, once as many as there are winners have arrived."""
    deadline = time.monotonic() + timeout
    while True:
        batches = await r.pool.all("seen", 10, kind="bag_won", count=0, timeout=0.0)
        events = [e for b in batches for e in b["events"]]
        if len(events) >= winners or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.1)
