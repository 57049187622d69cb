"""Signatures, messages and the retry schedule, without a network: what a receiver checks with
the reference ``standardwebhooks`` package, and how retries spread out."""

from __future__ import annotations

import random
import time

import orjson
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from liveroom.engine.outbox import Entry
from liveroom.features.events import signing
from liveroom.features.events.delivery import backoff, message
from liveroom.features.events.endpoints import new_secret, secret_key


def entry(n: int, room: str = "r1") -> Entry:
    return Entry(f"1700000000000-{n}", "order.paid", room, 1700000000000, orjson.dumps({"n": n}))


def test_signature_verifies_with_the_reference_package() -> None:
    """The headers of one event verify with standardwebhooks; a changed byte does not."""
    secret = new_secret()
    msg_id, body = message([entry(1)])
    headers = signing.headers(secret_key(secret), msg_id, int(time.time()), body)
    assert Webhook(secret).verify(body, headers)["id"] == "r1:1700000000000-1"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b'"n":1', b'"n":2'), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_a_batch_is_one_message_with_every_event_and_a_stable_id() -> None:
    """Several events: one body of type batch, oldest first; the same events, the same id."""
    msg_id, body = message([entry(1), entry(2), entry(3)])
    payload = orjson.loads(body)
    assert payload["type"] == "batch"
    assert [e["id"] for e in payload["events"]] == [f"r1:1700000000000-{n}" for n in (1, 2, 3)]
    assert msg_id == "batch_r1:1700000000000-1_3"
    assert message([entry(1), entry(2), entry(3)]) == (msg_id, body)


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    """Retry n waits between half and all of base x 2^(n-1), never above the cap, and two
    lanes failing together do not retry in step."""
    rng = random.Random(1)
    for attempt in range(1, 12):
        ceiling = min(60.0, 0.5 * 2 ** (attempt - 1))
        waits = [backoff(attempt, 0.5, 60.0, rng) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 40
