"""Red-packet HTTP routes, under ``/api/rooms/{room}/packets``; see docs/redpacket.md.

Create and list; ``/{packet}`` for the host's view with the money check; ``/{packet}/grab``
and ``/{packet}/close``. Each endpoint calls the node's ``RedPackets`` it closes over, and
documents itself for OpenAPI after its docstring's ``---``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.features.redpacket.rules import PacketSpec
from liveroom.http import acting_for, endpoint, path_id, read_json

if TYPE_CHECKING:
    from liveroom.context import NodeContext
    from liveroom.features.redpacket.actions import Packets


def _packet(request: Request) -> str:
    return path_id(request, "packet", "packet id")


def routes(packets: Packets) -> list[BaseRoute]:
    """The red-packet endpoints of one node, each bound to ``packets``."""

    @endpoint(role="host")
    async def post_packet(request: Request, node: NodeContext, who: Identity) -> Any:
        """Create a red packet: ``total`` fen split at random into ``count`` packets.
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [total, count]
                properties:
                  total: {type: integer, minimum: 1, description: in fen}
                  count: {type: integer, minimum: 1}
                  keyword: {type: string, description: viewers must comment it to grab}
                  title: {type: string, maxLength: 30}
                  delay_s:
                    {type: integer, minimum: 0, description: seconds before it can be grabbed}
        responses:
          "200":
            description: the new packet
            content: {application/json: {schema: {type: object}}}
        """
        spec = PacketSpec.from_body(await read_json(request))
        return await packets.create(request.path_params["room"], spec, who)

    @endpoint(role="viewer")
    async def get_packets(request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's active red packets.
        ---
        responses:
          "200":
            description: active packets
            content: {application/json: {schema: {type: object, required: [packets]}}}
        """
        return {"packets": await packets.active(request.path_params["room"])}

    @endpoint(role="host")
    async def get_packet(request: Request, node: NodeContext, who: Identity) -> Any:
        """One red packet with its grabs (host).
        ---
        responses:
          "200":
            description: the packet and who grabbed what
            content: {application/json: {schema: {type: object}}}
        """
        return await packets.details(request.path_params["room"], _packet(request))

    @endpoint(role="viewer")
    async def post_grab(request: Request, node: NodeContext, who: Identity) -> Any:
        """Grab for the token's user; the backend names the user (and display name) in the body.
        ---
        requestBody:
          required: false
          content:
            application/json:
              schema:
                type: object
                properties:
                  # backend (API key) only: the user the call is for, and its display name
                  user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
                  name: {type: string, minLength: 1, maxLength: 64}
        responses:
          "200":
            description: the grab's outcome and amount
            content: {application/json: {schema: {type: object}}}
        """
        room = request.path_params["room"]
        grabber = acting_for(who, await read_json(request), room)
        return await packets.grab(room, _packet(request), grabber.user, grabber.name)

    @endpoint(role="host")
    async def post_close(request: Request, node: NodeContext, who: Identity) -> Any:
        """Close a red packet early: the packets nobody grabbed go back (the refund), recorded once.
        ---
        responses:
          "200":
            description: the finished packet, what was grabbed, and the refund in fen
            content:
              application/json: {schema: {type: object, required: [packet, summary, refund]}}
        """
        return await packets.close_packet(request.path_params["room"], _packet(request))

    return [
        Route("/api/rooms/{room}/packets", post_packet, methods=["POST"]),
        Route("/api/rooms/{room}/packets", get_packets, methods=["GET"]),
        Route("/api/rooms/{room}/packets/{packet}", get_packet, methods=["GET"]),
        Route("/api/rooms/{room}/packets/{packet}/grab", post_grab, methods=["POST"]),
        Route("/api/rooms/{room}/packets/{packet}/close", post_close, methods=["POST"]),
    ]
