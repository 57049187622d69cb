"""``docs/protocol.md`` names every event type, command, error code and close code in use."""

from __future__ import annotations

import ast
import re

from liveroom.app import Node
from liveroom.config import Settings
from liveroom.errors import CloseCode, ErrorCode
from tests.protocol.protocol_doc import DOC, ROOT

#: event kinds published with a kind computed at run time (``publish_sale(state, "sold_out")``)
INDIRECT_KINDS = {"sale", "sold_out"}


def _event_kinds() -> set[str]:
    """Every constant first argument of ``event``/``room_event_body`` calls in the package."""
    kinds = set(INDIRECT_KINDS)
    for path in (ROOT / "liveroom").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            first, func = node.args[0], node.func
            name = getattr(func, "id", None) or getattr(func, "attr", "")
            if name in ("event", "room_event_body") and isinstance(first, ast.Constant):
                kinds.add(str(first.value))
    return kinds


def _documented(name: str) -> bool:
    return re.search(rf"`{re.escape(name)}`", DOC) is not None


def test_every_event_type_is_documented() -> None:
    """Each event type the server can send appears in backticks in the protocol page."""
    missing = sorted(kind for kind in _event_kinds() if not _documented(kind))
    assert not missing, f"event types missing from docs/protocol.md: {missing}"


def test_every_command_is_documented() -> None:
    """Each command type a node answers (core and features) appears in the protocol page."""
    commands = Node(Settings(secret="x" * 32)).dispatch.commands
    missing = sorted(kind for kind in commands if not _documented(kind))
    assert not missing, f"commands missing from docs/protocol.md: {missing}"


def test_every_error_code_is_documented() -> None:
    """Each error code a node answers with (core and features) has a row in the protocol page."""
    codes = Node(Settings(secret="x" * 32)).error_codes
    assert set(ErrorCode) <= set(codes)
    missing = [code.value for code in codes if not _documented(code.value)]
    assert not missing, f"error codes missing from docs/protocol.md: {missing}"


def test_error_codes_are_unique() -> None:
    """No two code enums (the core's, the features') claim one wire value."""
    values = [code.value for code in Node(Settings(secret="x" * 32)).error_codes]
    assert len(values) == len(set(values)), sorted(v for v in values if values.count(v) > 1)


def test_every_close_code_is_documented() -> None:
    """Each close code has a row in the close-code table."""
    missing = [int(code) for code in CloseCode if f"| {int(code)} |" not in DOC]
    assert not missing, f"close codes missing from docs/protocol.md: {missing}"
