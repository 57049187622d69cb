"""The admission rate: new connections per second per process; past it, 1013 and retry_after."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from liveroom.errors import CloseCode
from liveroom.limits import MAX_RETRY_AFTER_S, AddressRate, AdmissionRate
from liveroom.metrics import REFUSED_ADMISSIONS
from tests.liveclient import LiveClient
from tests.servers import ServerProcess


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_burst_is_admitted_then_refusals_say_when_to_come_back() -> None:
    """A full bucket admits its burst; the next connection is told to wait, not admitted."""
    clock = Clock()
    rate = AdmissionRate(10, 3, clock=clock, rand=lambda: 0.5)
    assert [rate.admit() for _ in range(3)] == [None, None, None]
    wait = rate.admit()
    assert wait is not None and wait > 0
    clock.now += 0.1  # one token's worth at 10/s
    assert rate.admit() is None
    assert rate.admit() is not None


def test_refused_connections_get_turns_spread_at_the_rate() -> None:
    """A storm's refusals get successive turns 1/rate apart: they come back spread out."""
    clock = Clock()
    rate = AdmissionRate(100, 1, clock=clock, rand=lambda: 0.5)  # no jitter at 0.5
    assert rate.admit() is None
    waits = [rate.admit() for _ in range(50)]
    assert all(w is not None for w in waits)
    gaps = [round(b - a, 3) for a, b in zip(waits, waits[1:], strict=False)]  # type: ignore[operator]
    assert gaps == [0.01] * 49, gaps
    assert waits[0] == 0.01 and waits[-1] == 0.5, waits


def test_turns_are_jittered_by_up_to_a_quarter() -> None:
    """The same turn is told as 0.75x to 1.25x of itself, so nodes do not send clients back in
    step."""
    for draw, factor in ((0.0, 0.75), (0.999999, 1.25)):
        clock = Clock()
        rate = AdmissionRate(10, 1, clock=clock, rand=lambda d=draw: d)
        rate.admit()
        wait = rate.admit()
        assert wait is not None
        assert abs(wait - 0.1 * factor) < 1e-3, (draw, wait)  # the turn: one token, 0.1 s


def test_retry_after_is_capped_and_rate_zero_admits_everyone() -> None:
    """No refusal is told to wait more than a minute; rate 0 turns the limit off."""
    clock = Clock()
    rate = AdmissionRate(1, 1, clock=clock, rand=lambda: 0.999999)
    waits = [rate.admit() for _ in range(500)]
    assert max(w for w in waits if w is not None) <= MAX_RETRY_AFTER_S
    off = AdmissionRate(0, 0, clock=clock)
    assert all(off.admit() is None for _ in range(10_000))


async def test_over_the_rate_a_connection_is_closed_1013_with_retry_after(
    module_servers: Callable[..., ServerProcess],
) -> None:
    """Past the burst, the next connection gets an ``error`` with ``retry_after``, then 1013;
    it is refused before its token is even read (a garbage token gets 1013, not 4001)."""
    server = module_servers(admit_rate=0.01, admit_burst=2)
    held = [await LiveClient.connect(server.ws_url, user=f"a{i}") for i in range(2)]
    for client in held:
        await client.event("snapshot")
    refused = await LiveClient.connect(server.ws_url, user=None, tok="garbage")
    code, reason = await refused.closed_with()
    assert code == CloseCode.TRY_AGAIN_LATER
    error = refused.of_type("error")[0]
    assert error["code"] == "rate_limited"
    assert 0 < error["retry_after"] <= MAX_RETRY_AFTER_S
    assert re.search(r"retry_after=([0-9.]+)$", reason), reason
    assert float(reason.rsplit("=", 1)[1]) == error["retry_after"]
    assert not refused.of_type("welcome"), "refused before any room work"
    metrics = httpx.get(server.url + "/metrics").text
    name = REFUSED_ADMISSIONS._name + "_total"
    assert f"{name} 1.0" in metrics
    for client in [*held, refused]:
        await client.close()


def test_each_address_has_a_bucket_of_its_own_and_full_ones_are_forgotten() -> None:
    """An address past its burst waits for its own bucket; another address is not held up;
    buckets refilled by now are forgotten once the table doubles."""
    clock = Clock()
    rate = AddressRate(10, 3, clock=clock)
    assert [rate.admit("a") for _ in range(3)] == [None, None, None]
    assert rate.admit("a") == 0.1
    assert rate.admit("b") is None
    clock.now += 0.1
    assert rate.admit("a") is None
    assert rate.admit("a") is not None
    for n in range(3 * AddressRate.SWEEP_FLOOR):  # within the same instant: all kept
        rate.admit(f"198.51.{n // 256}.{n % 256}")
    assert len(rate.buckets) == 3 * AddressRate.SWEEP_FLOOR + 2
    clock.now += 1.0  # every one of them is full again
    added = 0
    while "a" in rate.buckets:  # new addresses until the table doubles and is swept
        rate.admit(f"203.0.{added // 256}.{added % 256}")
        added += 1
    assert len(rate.buckets) == added  # only the addresses seen since
    assert rate.admit("a") is None  # a forgotten address has a full bucket
    off = AddressRate(0, 0, clock=clock)
    assert all(off.admit("a") is None for _ in range(10_000))


async def test_one_address_over_its_rate_is_refused_and_others_are_not(
    module_servers: Callable[..., ServerProcess],
) -> None:
    """Behind a trusted proxy, a client address past its own burst gets 1013 with
    ``retry_after`` (its connect-and-close loop spends none of the node's joins), while another
    address still joins."""
    server = module_servers(
        admit_address_rate=0.01, admit_address_burst=2, trusted_proxies="127.0.0.1"
    )
    loud = {"additional_headers": {"X-Forwarded-For": "198.51.100.7"}}
    quiet = {"additional_headers": {"X-Forwarded-For": "198.51.100.8"}}
    held = [await LiveClient.connect(server.ws_url, user=f"a{i}", **loud) for i in range(2)]  # type: ignore[arg-type]
    for client in held:
        await client.event("snapshot")
    refused = await LiveClient.connect(server.ws_url, user="a2", **loud)  # type: ignore[arg-type]
    code, _ = await refused.closed_with()
    assert code == CloseCode.TRY_AGAIN_LATER
    error = refused.of_type("error")[0]
    assert error["code"] == "rate_limited" and 0 < error["retry_after"] <= MAX_RETRY_AFTER_S
    assert "your address" in error["message"]
    other = await LiveClient.connect(server.ws_url, user="b0", **quiet)  # type: ignore[arg-type]
    await other.event("snapshot")
    for client in [*held, refused, other]:
        await client.close()
