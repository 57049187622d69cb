"""HTTP endpoints of flash sales, under ``/api/rooms/{room}/sales``. See ``docs/flashsale.md``.

Hosts (their token) and the backend (API key) manage sales; viewers read them, buy and cancel
their own orders; only the backend confirms payment. ``SaleRoutes`` binds the endpoints to one
node's ``FlashSale``; each is wrapped by ``liveroom.http.endpoint`` with its role in
``SaleRoutes.routes``, and documents itself for ``/openapi.json`` in its docstring.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.flashsale.commands import coupon_field, quantity_field, request_id_field
from liveroom.features.flashsale.service import FlashSale
from liveroom.features.flashsale.settings import SaleSettings
from liveroom.features.flashsale.store import MAX_QUANTITY, Sale, SaleSpec
from liveroom.http import acting_for, endpoint, order_routes, path_id, read_json
from liveroom.protocol import OBJECT_ID, ident_field, int_field

SALE_FIELDS = frozenset(
    {"id", "sku", "title", "price", "stock", "limit", "start", "end", "duration_s", "payment_s",
     "open"}
)  # fmt: skip
MAX_STOCK = 10_000_000
MAX_PRICE = 10**12
WEEK_S = 7 * 86400


def _number(body: dict[str, Any], name: str, low: float, high: float, default: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(ErrorCode.BAD_REQUEST, f"{name} must be a number")
    if not low <= value <= high:
        raise CommandError(ErrorCode.BAD_REQUEST, f"{name} must be between {low} and {high}")
    return float(value)


def sale_spec(body: dict[str, Any], settings: SaleSettings) -> SaleSpec:
    """Check a create request. Unknown fields are refused, not dropped."""
    unknown = set(body) - SALE_FIELDS
    if unknown:
        raise CommandError(ErrorCode.BAD_REQUEST, f"unknown sale field {sorted(unknown)[0][:40]!r}")
    sale_id = body.get("id") or "s-" + secrets.token_hex(4)
    title = body.get("title")
    if not isinstance(title, str) or not 0 < len(title) <= 200:
        raise CommandError(ErrorCode.BAD_REQUEST, "title is 1 to 200 characters")
    start = _number(body, "start", 0, 1e11, 0)
    end = _number(body, "end", 0, 1e11, 0)
    if start and end and end <= start:
        raise CommandError(ErrorCode.BAD_REQUEST, "end must be after start")
    return SaleSpec(
        id=ident_field(sale_id, "id", OBJECT_ID),
        sku=ident_field(body.get("sku"), "sku", OBJECT_ID),
        title=title,
        price=int_field(body.get("price"), "price", 0, MAX_PRICE),
        stock=int_field(body.get("stock"), "stock", 0, MAX_STOCK),
        limit=int_field(body.get("limit", 1), "limit", 1, MAX_QUANTITY),
        start=start,
        end=end,
        duration=_number(body, "duration_s", 0, WEEK_S, 0),
        payment_s=_number(body, "payment_s", 0.1, 86400, settings.payment_s),
    )


def _detail(sale: Sale, who: Identity) -> dict[str, Any]:
    body = sale.public()
    if who.may("host"):
        body.update(
            reserved=sale.reserved,
            paid=sale.paid,
            payment_s=sale.payment_s,
            duration_s=sale.duration,
            created=sale.created,
        )
    return body


def _ids(request: Request) -> tuple[str, str]:
    return request.path_params["room"], path_id(request, "sale", "sale id")


class SaleRoutes:
    """The flash-sale endpoints of one node, bound to its ``FlashSale``."""

    def __init__(self, sales: FlashSale, settings: SaleSettings) -> None:
        self.sales = sales
        self.settings = settings

    def routes(self) -> list[BaseRoute]:
        viewer, host = endpoint(role="viewer"), endpoint(role="host")
        base = "/api/rooms/{room}/sales"
        orders = base + "/{sale}/orders/{order}"
        return [
            Route(base, host(self.create_sale), methods=["POST"]),
            Route(base, viewer(self.list_sales), methods=["GET"]),
            Route(base + "/{sale}", viewer(self.get_sale), methods=["GET"]),
            Route(base + "/{sale}/open", host(self.open_sale), methods=["POST"]),
            Route(base + "/{sale}/close", host(self.close_sale), methods=["POST"]),
            Route(base + "/{sale}/stock", host(self.adjust_stock), methods=["POST"]),
            Route(base + "/{sale}/buy", viewer(self.buy), methods=["POST"]),
            Route(base + "/{sale}/audit", host(self.get_audit), methods=["GET"]),
            *order_routes(
                orders,
                "sale",
                self.sales,
                __name__,
                get="One order (a viewer sees only its own).",
                cancel="Cancel an unpaid order; its units go back on sale.",
                confirm="Confirm an order's payment (backend API key only).",
            ),
        ]

    async def create_sale(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Create a flash sale (closed unless ``open`` is true).
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [sku, title, price, stock]
                additionalProperties: false
                properties:
                  id: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$"}
                  sku: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$"}
                  title: {type: string, minLength: 1, maxLength: 200}
                  price: {type: integer, minimum: 0, description: in fen}
                  stock: {type: integer, minimum: 0, maximum: 10000000}
                  limit: {type: integer, minimum: 1, description: most units one user may buy}
                  start: {type: number, minimum: 0, description: Unix seconds; 0 for when opened}
                  end: {type: number, minimum: 0, description: Unix seconds; 0 for none}
                  duration_s: {type: number, minimum: 0, maximum: 604800}
                  payment_s:
                    {type: number, minimum: 0.1, maximum: 86400, description: seconds to pay}
                  open: {type: boolean}
        responses:
          "200":
            description: the sale
            content: {application/json: {schema: {type: object, required: [sale]}}}
        """
        body = await read_json(request)
        spec = sale_spec(body, self.settings)
        open_now = body.get("open", False)
        if not isinstance(open_now, bool):
            raise CommandError(ErrorCode.BAD_REQUEST, "open is true or false")
        sale = await self.sales.create(request.path_params["room"], spec, open_now=open_now)
        return {"sale": _detail(sale, who)}

    async def list_sales(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's flash sales.
        ---
        responses:
          "200":
            description: the sales
            content: {application/json: {schema: {type: object, required: [sales]}}}
        """
        sales = await self.sales.store.in_room(request.path_params["room"])
        return {"sales": [_detail(sale, who) for sale in sales]}

    async def get_sale(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """One flash sale, with stock left.
        ---
        responses:
          "200":
            description: the sale
            content: {application/json: {schema: {type: object, required: [sale]}}}
        """
        return {"sale": _detail(await self.sales.get(*_ids(request)), who)}

    async def open_sale(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Open a sale: buying starts.
        ---
        responses:
          "200":
            description: the sale
            content: {application/json: {schema: {type: object, required: [sale]}}}
        """
        return {"sale": _detail(await self.sales.open(*_ids(request)), who)}

    async def close_sale(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Close a sale: buying stops; reservations may still be paid.
        ---
        responses:
          "200":
            description: the sale
            content: {application/json: {schema: {type: object, required: [sale]}}}
        """
        return {"sale": _detail(await self.sales.close(*_ids(request)), who)}

    async def adjust_stock(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Add or remove stock.
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [delta]
                properties:
                  delta: {type: integer, minimum: -10000000, maximum: 10000000}
        responses:
          "200":
            description: the sale
            content: {application/json: {schema: {type: object, required: [sale]}}}
        """
        room, sale = _ids(request)
        body = await read_json(request)
        delta = int_field(body.get("delta"), "delta", -MAX_STOCK, MAX_STOCK)
        return {"sale": _detail(await self.sales.adjust(room, sale, delta), who)}

    async def buy(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """A viewer buys for itself; the backend buys on behalf of ``user``.
        ---
        requestBody:
          required: false
          content:
            application/json:
              schema:
                type: object
                properties:
                  quantity: {type: integer, minimum: 1}
                  request_id: {type: string, description: "idempotency key: a retry buys once"}
                  coupon: {type: string, description: "one of the buyer's claimed coupons"}
                  # backend (API key) only: the user the call is for, and its display name
                  user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
                  name: {type: string, minLength: 1, maxLength: 64}
        responses:
          "200":
            description: the reservation (an order to pay) or the refusal's answer code
            content: {application/json: {schema: {type: object}}}
        """
        room, sale = _ids(request)
        body = await read_json(request)
        buyer = acting_for(who, body, room)
        quantity = quantity_field(body.get("quantity", 1))
        request_id = request_id_field(body.get("request_id"))
        coupon = coupon_field(body.get("coupon"))
        return await self.sales.buy(
            room, sale, buyer.user, buyer.name, quantity, request_id, coupon
        )

    async def get_audit(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The sale's ledger: stock, reserved, paid and every order.
        ---
        responses:
          "200":
            description: the audit
            content: {application/json: {schema: {type: object}}}
        """
        return await self.sales.audit(*_ids(request))
