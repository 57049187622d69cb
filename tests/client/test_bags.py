"""Lucky bags through the client: joins, the draw, the proof anyone can check."""

from __future__ import annotations

from typing import Any

import pytest

from liveroom.client import BadRequest, BagCode, Conflict, ErrorCode, LiveroomClient
from liveroom.features.luckybag.rules import pick_winners, seed_hash


async def open_bag(lr: LiveroomClient, room: str, **rules: Any) -> str:
    bag = await lr.bags.create(
        room,
        prize="围巾",
        value_fen=9900,
        duration_s=60,
        open=True,
        **rules,
    )
    assert bag["state"] == "open"
    return str(bag["id"])


async def test_draw_picks_from_joined_users_and_proves_it(lr: LiveroomClient, room: str) -> None:
    """Users joined by the backend are drawn from; the proof recomputes the same winners."""
    bag = await open_bag(lr, room, winners=2)
    for user in ("u1", "u2", "u3"):
        await lr.bags.join(room, bag, user=user, name=user.upper())
    drawn = await lr.bags.draw(room, bag)
    assert drawn["state"] == "drawn"
    winners = [w["id"] for w in drawn["winner_list"]]
    proof = await lr.bags.proof(room, bag)
    assert proof["participants"] == ["u1", "u2", "u3"]
    assert seed_hash(proof["seed"]) == proof["seed_hash"]
    assert pick_winners(proof["seed"], proof["participants"], [], 2) == winners == proof["result"]


async def test_second_join_is_not_new(lr: LiveroomClient, room: str) -> None:
    """Joining twice keeps one entry: the second answer says new is false."""
    bag = await open_bag(lr, room)
    assert (await lr.bags.join(room, bag, user="u1"))["new"] is True
    again = await lr.bags.join(room, bag, user="u1")
    assert (again["new"], again["count"]) == (False, 1)


async def test_revoked_bag_refuses_joins(lr: LiveroomClient, room: str) -> None:
    """A revoked bag is listed as revoked and a join raises Conflict coded ended."""
    bag = await open_bag(lr, room)
    assert (await lr.bags.revoke(room, bag))["state"] == "revoked"
    assert [(b["id"], b["state"]) for b in await lr.bags.list(room)] == [(bag, "revoked")]
    with pytest.raises(Conflict) as caught:
        await lr.bags.join(room, bag, user="u1")
    assert caught.value.code is ErrorCode.ENDED


async def test_created_bag_opens_later(lr: LiveroomClient, room: str) -> None:
    """A bag created closed opens on open(), with a seed hash and a deadline."""
    bag = await lr.bags.create(room, prize="杯子", value_fen=100, duration_s=30)
    assert bag["state"] == "created"
    opened = await lr.bags.open(room, bag["id"])
    assert opened["state"] == "open" and opened["seed_hash"] and opened["deadline"]
    assert (await lr.bags.get(room, bag["id"]))["state"] == "open"


async def test_prize_over_cap_raises_bad_request_with_the_cap(
    lr: LiveroomClient, room: str
) -> None:
    """A declared value above the cap raises BadRequest coded prize_over_cap, with cap_fen."""
    with pytest.raises(BadRequest) as caught:
        await lr.bags.create(room, prize="车", value_fen=10**9, duration_s=60)
    assert caught.value.code is BagCode.PRIZE_OVER_CAP
    assert caught.value.details["cap_fen"] == 5_000_000
