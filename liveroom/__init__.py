"""liveroom: a real-time event server for live-commerce rooms."""

from __future__ import annotations

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
