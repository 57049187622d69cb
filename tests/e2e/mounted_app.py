"""A shop's own Starlette app with liveroom mounted under ``/live`` (run by uvicorn in tests)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from liveroom.app import create_app
from liveroom.config import Settings

live = create_app(Settings.from_env(demo=False))


async def shop_home(request: Request) -> JSONResponse:
    return JSONResponse({"shop": "ok"})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with live.router.lifespan_context(live):
        yield


app = Starlette(
    routes=[Route("/", shop_home), Mount("/live", app=live)],
    lifespan=lifespan,
)
