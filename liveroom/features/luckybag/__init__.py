"""Lucky bags (福袋): a prize draw among the viewers who join, verifiable by anyone.

``LuckyBags`` is the feature a node runs (``feature.py``); ``commands.py`` and ``routes.py``
are its WebSocket commands and HTTP endpoints, ``rules.py`` the rules, views and winner recipe,
``store.py`` the ``BagStore`` protocol with its memory and Redis implementations beside it
(``lua/bag_*.lua``), ``errors.py`` its codes and ``settings.py`` its settings. See
``docs/luckybag.md``.
"""

from __future__ import annotations

from liveroom.features.luckybag.errors import BagCode
from liveroom.features.luckybag.feature import LuckyBags
from liveroom.features.luckybag.stores import bag_store

__all__ = ["BagCode", "LuckyBags", "bag_store"]
