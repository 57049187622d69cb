"""``Run.drain``: the head the viewers are judged against covers every reply, late ones too."""

from __future__ import annotations

import asyncio
from argparse import Namespace
from typing import Any

from rich.console import Console

from loadtest.run import Run


class Workers:
    """Stands in for the pool of client processes: each ``drain`` answer is scripted, and every
    call is kept. A worker's answer names the newest offset any of its replies named."""

    def __init__(self, newest: list[list[int]]) -> None:
        self.newest = newest  # per drain call, each worker's max_offset
        self.heads: list[int] = []

    async def all(self, op: str, within: float, **kwargs: Any) -> list[dict[str, Any]]:
        assert op == "drain"
        self.heads.append(kwargs["head"])
        offsets = self.newest[len(self.heads) - 1]
        return [{"behind": 0, "missing": 0, "max_offset": m} for m in offsets]

    def totals(self) -> dict[str, int]:  # the progress bar's counts
        return {}


def _drain(workers: Workers, head: int) -> dict[str, int]:
    opts = Namespace(drain_timeout=1.0, quiet=True)
    run = Run("fanout", opts, target=None, pool=workers, console=Console(quiet=True))  # type: ignore[arg-type]
    return asyncio.run(run.drain(head))


def test_a_reply_that_came_back_during_the_drain_moves_the_head() -> None:
    """The sentinel said 168; a reply read during the drain named 178: the viewers are drained
    again, to 178, and 178 is the head they are judged against."""
    workers = Workers([[160, 178], [178, 178]])
    drained = _drain(workers, 168)
    assert workers.heads == [168, 178]
    assert drained["head"] == 178


def test_no_late_reply_drains_once() -> None:
    """Every reply was in before the sentinel: one drain, to the sentinel's head."""
    workers = Workers([[150, 168]])
    assert _drain(workers, 168)["head"] == 168
    assert workers.heads == [168]


def test_the_head_returned_is_one_the_viewers_were_drained_to() -> None:
    """Replies keep naming later comments: 3 drains at most, and the head returned is the
    third drain's, not the newer one its replies named after it."""
    workers = Workers([[170], [175], [180]])
    drained = _drain(workers, 168)
    assert workers.heads == [168, 170, 175]
    assert drained["head"] == 175
