"""HTTP endpoints of the host's analytics (``docs/analytics.md``): the report as JSON and as
CSV, and the ad spend a host enters. Hosts of the room (their token) and the backend (API key)
only; ``AnalyticsRoutes`` binds them to one node's ``Analytics``."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.analytics.export import report_csv
from liveroom.http import endpoint, read_json

#: how far back and ahead of now an ad spend's ``at`` may be: each hour named is a row of every
#: report of the room, so a caller may not spread spend over a century of hours
SPEND_BACK_S = 400 * 86400
SPEND_AHEAD_S = 86400


class Reports(Protocol):
    """What the routes need of the feature (``Analytics``)."""

    async def report(self, room: str) -> dict[str, Any]: ...

    async def add_spend(self, room: str, cents: int, at: float | None) -> int: ...


#: the most ad spend one call may add, in cents (10 billion)
MAX_SPEND_CENTS = 1_000_000_000_000


def spend_field(body: dict[str, Any]) -> int:
    """The ``cents`` of an ad-spend body: a whole number from 0, else ``bad_request``."""
    cents = body.get("cents")
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise CommandError(ErrorCode.BAD_REQUEST, "cents must be a whole number of cents")
    if not 0 <= cents <= MAX_SPEND_CENTS:
        raise CommandError(
            ErrorCode.BAD_REQUEST, f"cents must be from 0 to {MAX_SPEND_CENTS}, not {cents}"
        )
    return cents


class AnalyticsRoutes:
    """The analytics endpoints of one node."""

    def __init__(self, analytics: Reports) -> None:
        self.analytics = analytics

    def routes(self) -> list[BaseRoute]:
        host = endpoint(role="host")
        base = "/api/rooms/{room}"
        return [
            Route(base + "/report", host(self.get_report), methods=["GET"]),
            Route(base + "/report.csv", host(self.get_report_csv), methods=["GET"]),
            Route(base + "/ad-spend", host(self.post_ad_spend), methods=["POST"]),
        ]

    async def get_report(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's analytics report: audience, watch time, sources, interaction, products,
        money and profile, live or after the room ended (docs/analytics.md).
        ---
        responses:
          "200":
            description: the report
            content:
              application/json:
                schema:
                  type: object
                  required: [room, audience, watch, sources, interaction, products, money]
          "404":
            description: nothing was ever counted for this room (or its report expired)
        """
        return await self.analytics.report(request.path_params["room"])

    async def get_report_csv(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's report as CSV, one figure per row: ``group,figure,sku,time,value``.
        ---
        responses:
          "200":
            description: the report as CSV
            content: {text/csv: {schema: {type: string}}}
          "404":
            description: nothing was ever counted for this room (or its report expired)
        """
        room = request.path_params["room"]
        body = report_csv(await self.analytics.report(room))
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{room}-report.csv"'},
        )

    async def post_ad_spend(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Add ad spend to the room's hour (now's, or the hour of ``at``), for ROI by hour.
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [cents]
                properties:
                  cents: {type: integer, minimum: 0, description: "spend to add, in cents (fen)"}
                  at: {type: number, description: "a time in the hour (epoch seconds); default now"}
        responses:
          "200":
            description: the hour the spend was added to, and its spend now counted in
            content:
              application/json:
                schema:
                  type: object
                  required: [hour, added]
                  properties: {hour: {type: integer}, added: {type: integer}}
          "400":
            description: cents not a whole number from 0; at not from 400 days ago to a day ahead
        """
        body = await read_json(request)
        cents = spend_field(body)
        at = body.get("at")
        now = node.now()
        if at is not None and (
            isinstance(at, bool)
            or not isinstance(at, int | float)
            or not now - SPEND_BACK_S <= at <= now + SPEND_AHEAD_S
        ):
            # (bounded: an hour far past 2**63 was written, then broke every report's JSON)
            raise CommandError(
                ErrorCode.BAD_REQUEST,
                "at is a time in seconds since the epoch, from 400 days ago to a day ahead",
            )
        room = request.path_params["room"]
        hour = await self.analytics.add_spend(room, cents, at)
        return {"hour": hour, "added": cents}
