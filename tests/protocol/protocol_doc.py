"""``docs/protocol.md``, which the protocol tests hold the server and the JS client to."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text("utf-8")
