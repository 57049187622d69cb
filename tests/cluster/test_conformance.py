"""The engine and store conformance suites, run against a RedisEngine on a real Redis Cluster.

Any script whose keys straddle slots fails here with CROSSSLOT; any room event sent with plain
PUBLISH instead of SPUBLISH never reaches the sharded subscriber.
"""

from __future__ import annotations

from tests.cards.test_store import *  # noqa: F403
from tests.engine.test_conformance import *  # noqa: F403
from tests.flashsale.test_store import *  # noqa: F403
from tests.luckybag.test_store import *  # noqa: F403
from tests.redpacket.test_store import *  # noqa: F403
