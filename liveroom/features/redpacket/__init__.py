"""Red packets (红包, and 口令红包 keyword packets): a total split up front, grabbed one per user.

``RedPackets`` is the feature a node runs (``feature.py``); ``commands.py`` and ``routes.py``
are its WebSocket commands and HTTP endpoints, ``rules.py`` the split, request checks and
public view, ``store.py`` the ``PacketStore`` protocol with its memory and Redis
implementations beside it (``lua/packet_*.lua``), and ``errors.py`` its codes. See
``docs/redpacket.md``.
"""

from __future__ import annotations

from liveroom.features.redpacket.errors import PacketCode
from liveroom.features.redpacket.feature import RedPackets
from liveroom.features.redpacket.stores import packet_store

__all__ = ["PacketCode", "RedPackets", "packet_store"]
