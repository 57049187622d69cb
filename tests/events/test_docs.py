"""``docs/events.md`` documents every business event type the code appends, and its recipe and
settings are the code's."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from liveroom.config import Settings
from liveroom.features.flashsale.store import OrderStatus

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "events.md").read_text("utf-8")
LUA = re.compile(r"outbox\(KEYS\[[^\]]+\],\s*'([a-z_]+\.[a-z_]+)'")
PY = re.compile(r"emit(?:_now)?\(\s*[\w.]+,\s*\"([a-z_]+\.[a-z_]+)\"")


def appended_types() -> set[str]:
    """Every type a script or a memory store appends, by name in the source."""
    found = {f"order.{s.value}" for s in OrderStatus if s is not OrderStatus.RESERVED}
    for path in (ROOT / "liveroom").rglob("*.lua"):
        found |= set(LUA.findall(path.read_text("utf-8")))
    for path in (ROOT / "liveroom").rglob("*.py"):
        found |= set(PY.findall(path.read_text("utf-8")))
    return found


def test_every_appended_type_is_documented_with_its_payload() -> None:
    """Each type has a row in the table of types (``| `type` | when | data |``)."""
    types = appended_types()
    assert {"order.reserved", "bag.drawn", "packet.grabbed", "room.ended"} <= types
    rows = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", DOC, re.M))
    assert types == rows, (sorted(types - rows), sorted(rows - types))


def test_every_feed_setting_is_documented() -> None:
    """Each ``feed_*`` setting appears as its ``LIVEROOM_`` variable's tail."""
    names = [f.name for f in fields(Settings) if f.name.startswith("feed_")]
    assert names
    missing = [n for n in names if f"`{n.upper()}`" not in DOC and n.upper() not in DOC]
    assert not missing, missing


def test_the_documented_recipe_is_the_runnable_one() -> None:
    """The pull recipe in the page reads the same key, cursor and fields as the script."""
    script = (ROOT / "docs" / "pull_outbox.py").read_text("utf-8")
    for line in (
        'r.xgroup_create(key, group, id="0", mkstream=True)',
        'cursor = ">"',
        "r.xack(key, group, entry_id)",
        '"timestamp": int(',
    ):
        assert line in script and line in DOC, line
