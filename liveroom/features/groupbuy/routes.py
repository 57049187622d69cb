"""HTTP endpoints of group buys, under ``/api/rooms/{room}/deals``. See ``docs/groupbuy.md``.

Hosts (their token) and the backend (API key) manage deals; viewers read them, take places and
cancel their own orders; only the backend confirms payment. A friend who follows a share link
needs no WebSocket: with a viewer token for the room (the shop's page gets one from the token
API) it reads the group and joins it here. ``DealRoutes`` binds the endpoints to one node's
``GroupBuy``; each documents itself for ``/openapi.json`` in its docstring.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.groupbuy.commands import coupon_field, quantity_field, request_id_field
from liveroom.features.groupbuy.service import GroupBuy
from liveroom.features.groupbuy.settings import GroupSettings
from liveroom.features.groupbuy.store import (
    MAX_QUANTITY,
    MAX_SIZE,
    MIN_SIZE,
    Deal,
    DealSpec,
    Mode,
)
from liveroom.http import acting_for, endpoint, order_routes, path_id, read_json
from liveroom.protocol import OBJECT_ID, ident_field, int_field

DEAL_FIELDS = frozenset(
    {"id", "sku", "title", "size", "price", "stock", "limit", "fill_s", "start", "end",
     "duration_s", "payment_s", "open"}
)  # fmt: skip
MAX_STOCK = 10_000_000
MAX_PRICE = 10**12
WEEK_S = 7 * 86400
#: groups one list answers at most
LIST_GROUPS = 200


def _number(body: dict[str, Any], name: str, low: float, high: float, default: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(ErrorCode.BAD_REQUEST, f"{name} must be a number")
    if not low <= value <= high:
        raise CommandError(ErrorCode.BAD_REQUEST, f"{name} must be between {low} and {high}")
    return float(value)


def deal_spec(body: dict[str, Any], settings: GroupSettings) -> DealSpec:
    """Check a create request. Unknown fields are refused, not dropped."""
    unknown = set(body) - DEAL_FIELDS
    if unknown:
        raise CommandError(ErrorCode.BAD_REQUEST, f"unknown deal field {sorted(unknown)[0][:40]!r}")
    title = body.get("title")
    if not isinstance(title, str) or not 0 < len(title) <= 200:
        raise CommandError(ErrorCode.BAD_REQUEST, "title is 1 to 200 characters")
    start = _number(body, "start", 0, 1e11, 0)
    end = _number(body, "end", 0, 1e11, 0)
    if start and end and end <= start:
        raise CommandError(ErrorCode.BAD_REQUEST, "end must be after start")
    return DealSpec(
        id=ident_field(body.get("id") or "d-" + secrets.token_hex(4), "id", OBJECT_ID),
        sku=ident_field(body.get("sku"), "sku", OBJECT_ID),
        title=title,
        size=int_field(body.get("size"), "size", MIN_SIZE, MAX_SIZE),
        price=int_field(body.get("price"), "price", 0, MAX_PRICE),
        stock=int_field(body.get("stock"), "stock", 0, MAX_STOCK),
        limit=int_field(body.get("limit", 1), "limit", 1, MAX_QUANTITY),
        fill_s=_number(body, "fill_s", 0.1, WEEK_S, 600),
        start=start,
        end=end,
        duration=_number(body, "duration_s", 0, WEEK_S, 0),
        payment_s=_number(body, "payment_s", 0.1, 86400, settings.payment_s),
    )


def _detail(deal: Deal, who: Identity) -> dict[str, Any]:
    body = deal.public()
    if who.may("host"):
        body.update(
            held=deal.held,
            reserved=deal.reserved,
            paid=deal.paid,
            groups=deal.groups,
            formed=deal.formed,
            failed=deal.failed,
            payment_s=deal.payment_s,
            duration_s=deal.duration,
            created=deal.created,
        )
    return body


def _ids(request: Request) -> tuple[str, str]:
    return request.path_params["room"], path_id(request, "deal", "deal id")


class DealRoutes:
    """The group-buy endpoints of one node, bound to its ``GroupBuy``."""

    def __init__(self, groups: GroupBuy, settings: GroupSettings) -> None:
        self.groups = groups
        self.settings = settings

    def routes(self) -> list[BaseRoute]:
        viewer, host = endpoint(role="viewer"), endpoint(role="host")
        base = "/api/rooms/{room}/deals"
        deal = base + "/{deal}"
        orders = deal + "/orders/{order}"
        return [
            Route(base, host(self.create_deal), methods=["POST"]),
            Route(base, viewer(self.list_deals), methods=["GET"]),
            Route(deal, viewer(self.get_deal), methods=["GET"]),
            Route(deal + "/open", host(self.open_deal), methods=["POST"]),
            Route(deal + "/close", host(self.close_deal), methods=["POST"]),
            Route(deal + "/audit", host(self.get_audit), methods=["GET"]),
            Route(deal + "/groups", viewer(self.list_groups), methods=["GET"]),
            Route(deal + "/groups", viewer(self.start_group), methods=["POST"]),
            Route(deal + "/match", viewer(self.match_group), methods=["POST"]),
            Route(deal + "/groups/{group}", viewer(self.get_group), methods=["GET"]),
            Route(deal + "/groups/{group}/join", viewer(self.join_group), methods=["POST"]),
            *order_routes(
                orders,
                "deal",
                self.groups,
                __name__,
                get="One group order (a viewer sees only its own).",
                cancel="Cancel an unpaid group order; its units go back to the deal.",
                confirm="Confirm a group order's payment (backend API key only).",
            ),
        ]

    async def create_deal(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Create a group deal (not open unless ``open`` is true).
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [sku, title, size, price, stock]
                additionalProperties: false
                properties:
                  id: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$"}
                  sku: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$"}
                  title: {type: string, minLength: 1, maxLength: 200}
                  size: {type: integer, minimum: 2, maximum: 50, description: members a group needs}
                  price: {type: integer, minimum: 0, description: "group price per unit, in fen"}
                  stock: {type: integer, minimum: 0, maximum: 10000000}
                  limit:
                    type: integer
                    minimum: 1
                    description: units one user may hold at once (open places, unpaid, paid)
                  fill_s: {type: number, minimum: 0.1, description: seconds a group has to fill}
                  start: {type: number, minimum: 0, description: Unix seconds; 0 for when opened}
                  end: {type: number, minimum: 0, description: Unix seconds; 0 for none}
                  duration_s: {type: number, minimum: 0, maximum: 604800}
                  payment_s:
                    {type: number, minimum: 0.1, maximum: 86400, description: seconds to pay}
                  open: {type: boolean}
        responses:
          "200":
            description: the deal
            content: {application/json: {schema: {type: object, required: [deal]}}}
        """
        body = await read_json(request)
        spec = deal_spec(body, self.settings)
        open_now = body.get("open", False)
        if not isinstance(open_now, bool):
            raise CommandError(ErrorCode.BAD_REQUEST, "open is true or false")
        deal = await self.groups.create(request.path_params["room"], spec, open_now=open_now)
        return {"deal": _detail(deal, who)}

    async def list_deals(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's group deals.
        ---
        responses:
          "200":
            description: the deals
            content: {application/json: {schema: {type: object, required: [deals]}}}
        """
        deals = await self.groups.store.in_room(request.path_params["room"])
        return {"deals": [_detail(deal, who) for deal in deals]}

    async def get_deal(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """One deal, with stock left.
        ---
        responses:
          "200":
            description: the deal
            content: {application/json: {schema: {type: object, required: [deal]}}}
        """
        return {"deal": _detail(await self.groups.get(*_ids(request)), who)}

    async def open_deal(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Open a deal: groups may start.
        ---
        responses:
          "200":
            description: the deal
            content: {application/json: {schema: {type: object, required: [deal]}}}
        """
        return {"deal": _detail(await self.groups.open(*_ids(request)), who)}

    async def close_deal(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Close a deal: no more places; open groups fail, formed groups' orders stay payable.
        ---
        responses:
          "200":
            description: the deal
            content: {application/json: {schema: {type: object, required: [deal]}}}
        """
        return {"deal": _detail(await self.groups.close(*_ids(request)), who)}

    async def get_audit(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The deal's ledger checked: stock, held in open groups, reserved, paid, groups.
        ---
        responses:
          "200":
            description: the audit
            content: {application/json: {schema: {type: object, required: [ok]}}}
        """
        return await self.groups.audit(*_ids(request))

    async def list_groups(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The deal's groups: open ones fullest first (``?status=open``, the default), or the
        latest of every status for the host (``?status=all``).
        ---
        parameters:
          - {name: status, in: query, schema: {type: string, enum: [open, all]}}
        responses:
          "200":
            description: the groups
            content: {application/json: {schema: {type: object, required: [groups]}}}
        """
        room, deal = _ids(request)
        status = request.query_params.get("status", "open")
        if status not in ("open", "all") or (status == "all" and not who.may("host")):
            raise CommandError(ErrorCode.BAD_REQUEST, "status is open (or all, for the host)")
        await self.groups.get(room, deal)
        if status == "open":
            found = await self.groups.store.open_groups(room, deal, LIST_GROUPS)
        else:
            ledger = await self.groups.store.ledger(room, deal)
            found = ledger.groups[-LIST_GROUPS:][::-1] if ledger is not None else []
        return {"groups": [g.public() for g in found]}

    async def _take(self, request: Request, who: Identity, mode: Mode, group: str = "") -> Any:
        room, deal = _ids(request)
        body = await read_json(request)
        member = acting_for(who, body, room)
        return await self.groups.take(
            room,
            deal,
            mode,
            member.user,
            member.name,
            quantity_field(body.get("quantity", 1)),
            request_id_field(body.get("request_id")),
            group,
            coupon_field(body.get("coupon")),
        )

    async def start_group(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Start a group with the caller as its first member (the backend: for ``user``).
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [request_id]
                properties:
                  quantity: {type: integer, minimum: 1, maximum: 100}
                  request_id: {type: string, description: "idempotency key: a retry joins once"}
                  coupon: {type: string, description: "one of the caller's claimed coupons"}
                  # backend (API key) only: the user the call is for, and its display name
                  user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
                  name: {type: string, minLength: 1, maxLength: 64}
        responses:
          "200":
            description: the place taken, with the group (and the caller's order if it formed)
            content: {application/json: {schema: {type: object, required: [group]}}}
        """
        return await self._take(request, who, Mode.START)

    async def match_group(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Join the fullest open group of the deal the caller is not in yet.
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [request_id]
                properties:
                  quantity: {type: integer, minimum: 1, maximum: 100}
                  request_id: {type: string, description: "idempotency key: a retry joins once"}
                  coupon: {type: string, description: "one of the caller's claimed coupons"}
                  # backend (API key) only: the user the call is for, and its display name
                  user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
                  name: {type: string, minLength: 1, maxLength: 64}
        responses:
          "200":
            description: the place taken, with the group (and the caller's order if it formed)
            content: {application/json: {schema: {type: object, required: [group]}}}
        """
        return await self._take(request, who, Mode.MATCH)

    async def get_group(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """One group: the card a share link shows (members, slots left, deadline).
        ---
        responses:
          "200":
            description: the group, with its deal
            content: {application/json: {schema: {type: object, required: [group, deal]}}}
        """
        room, deal = _ids(request)
        group = await self.groups.group(room, deal, path_id(request, "group", "group id"))
        state = await self.groups.get(room, deal)
        return {"group": group.public(), "deal": state.public()}

    async def join_group(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Join one open group (a share link's target; no WebSocket needed).
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [request_id]
                properties:
                  quantity: {type: integer, minimum: 1, maximum: 100}
                  request_id: {type: string, description: "idempotency key: a retry joins once"}
                  coupon: {type: string, description: "one of the caller's claimed coupons"}
                  # backend (API key) only: the user the call is for, and its display name
                  user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
                  name: {type: string, minLength: 1, maxLength: 64}
        responses:
          "200":
            description: the place taken, with the group (and the caller's order if it formed)
            content: {application/json: {schema: {type: object, required: [group]}}}
        """
        return await self._take(request, who, Mode.JOIN, path_id(request, "group", "group id"))
