"""``python -m loadtest.noticecost``: private notices in a big room."""

from __future__ import annotations

import argparse

from loadtest import noticecost


async def test_each_notice_reaches_one_viewer() -> None:
    result = await noticecost.run(argparse.Namespace(viewers=2_000, notices=500))
    assert result["frames_given"] == 500, result
    assert result["cpu_us_per_notice"] > 0, result
