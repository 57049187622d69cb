"""A shop backend's webhook receiver for the feed's tests: a small Starlette app under uvicorn,
in the test's own event loop, that verifies every request with the ``standardwebhooks``
package and misbehaves on purpose, from a seeded RNG.

Every ``hang_every``-th request hangs past the sender's timeout (having taken the events, so
the sender retries what was already taken); the others draw their fate from the RNG: a 500
after taking the events, a 500 before taking them, or success. ``arrivals`` holds every event
taken, duplicates included, in arrival order.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class Receiver:
    def __init__(
        self,
        secret: str,
        *,
        fail: float = 0.0,
        hang: float = 0.0,
        hang_every: int = 0,
        hang_s: float = 1.0,
        seed: int = 20,
        status: int = 500,
    ) -> None:
        self.verifier = Webhook(secret)
        self.fail = fail
        self.hang = hang
        self.hang_every = hang_every
        self.hang_s = hang_s
        self.status = status
        self.rng = random.Random(seed)
        self.arrivals: list[dict[str, Any]] = []
        self.requests = 0
        self.batches = 0
        self.failed = 0
        self.hung = 0
        self.bad_signatures = 0
        self.msg_ids: list[str] = []
        #: while False, every request is answered 503 before anything is taken
        self.open = True
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> set[str]:
        return {e["id"] for e in self.arrivals}

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        self.requests += 1
        try:
            payload = self.verifier.verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.bad_signatures += 1
            return Response(status_code=401)
        self.msg_ids.append(request.headers["webhook-id"])
        if not self.open:
            self.failed += 1
            return Response(status_code=503)
        events = payload["events"] if payload.get("type") == "batch" else [payload]
        if len(events) > 1:
            self.batches += 1
        fate = self.rng.random()
        if fate < self.hang or (self.hang_every and self.requests % self.hang_every == 0):
            self.hung += 1
            self.arrivals.extend(events)
            await asyncio.sleep(self.hang_s)  # a receiver that hangs: the sender times out
            return Response(status_code=200)
        if fate < self.hang + self.fail:
            self.failed += 1
            if fate < self.hang + self.fail / 2:
                self.arrivals.extend(events)  # took them, then failed: the sender retries
            return Response(status_code=self.status)
        self.arrivals.extend(events)
        return Response(orjson.dumps({"ok": True}), media_type="application/json")

    async def start(self) -> Receiver:
        app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)  # uvicorn offers no event for "listening"
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task
