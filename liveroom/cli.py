"""The ``liveroom`` command: ``serve`` and ``token``. uvloop is installed here and nowhere else."""

from __future__ import annotations

import argparse
import contextlib
import logging.config
import os
import secrets
import sys
from dataclasses import MISSING, fields
from typing import Any

from liveroom.config import ENV_PREFIX, Settings

SERVE_HELP = {
    "feed_endpoints": "webhook endpoints of the business-event feed, a JSON list (docs/events.md); "
    "they hold secrets: prefer the environment variable, a flag shows in ps",
    "host": "address to listen on",
    "port": "port to listen on",
    "engine": "memory (one process) or redis (many processes and nodes)",
    "redis_url": "Redis URL for the redis engine; with --redis-cluster, comma-separated seed nodes",
    "redis_cluster": "the Redis URL points at a Redis Cluster (sharded pub/sub, hash-tagged keys)",
    "workers": "worker processes (needs --engine redis when above 1)",
    "tick_ms": "fan-out tick in milliseconds",
    "send_loop": "the fan-out's send loop: auto (C if built), c, or python",
    "secret": "shared secret that signs viewer tokens (JWT HS256)",
    "api_key": "the backend's API key for the HTTP API",
    "demo": "serve the demo pages and demo tokens",
}


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    for f in fields(Settings):
        if f.name == "node_id":
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        env = ENV_PREFIX + f.name.upper()
        help_text = (
            f"{SERVE_HELP.get(f.name, f.name.replace('_', ' '))} (env {env}, default {default!r})"
        )
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        if kind == "bool":
            parser.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            caster: Any = {"int": int, "float": float}.get(kind, str)
            parser.add_argument(flag, dest=f.name, type=caster, default=None, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liveroom", description="Real-time live-commerce rooms.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    _add_settings_flags(serve)
    token = sub.add_parser("token", help="mint a signed test token")
    token.add_argument("--user", required=True)
    token.add_argument("--name")
    token.add_argument("--room", default="*")
    token.add_argument("--role", default="viewer", choices=["viewer", "host", "admin"])
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    token.add_argument("--secret", help=f"signing secret (env {ENV_PREFIX}SECRET)")
    return parser


def serve(args: argparse.Namespace) -> int:
    import uvicorn
    import uvloop

    from liveroom.connection.uvicorn_adapter import uvicorn_options
    from liveroom.features.events.endpoints import env_secrets
    from liveroom.logs import log_config

    overrides = {f.name: getattr(args, f.name, None) for f in fields(Settings)}
    overrides.pop("node_id", None)
    try:
        settings = Settings.from_env(**overrides)
    except ValueError as exc:
        print(f"liveroom: {exc}", file=sys.stderr)
        return 2
    if not settings.secret:
        settings = settings.replace(secret=secrets.token_urlsafe(32))
        print(
            "liveroom: no LIVEROOM_SECRET set; signing tokens with a random secret for this run",
            file=sys.stderr,
        )
    os.environ.update(settings.to_env())
    uvloop.install()
    logs = log_config(
        settings.log_level,
        settings.log_json,
        secrets=(settings.secret, settings.api_key, *env_secrets(settings.feed_endpoints)),
    )
    logging.config.dictConfig(logs)  # before uvicorn does: ``uvicorn_options`` may warn
    if settings.demo:
        print(f"liveroom: demo at http://{settings.host}:{settings.port}/demo/", file=sys.stderr)
    options: dict[str, Any] = dict(
        factory=True,
        host=settings.host,
        port=settings.port,
        backlog=settings.backlog,
        loop="uvloop",
        # liveroom's own protocol classes on a uvicorn they were tested with, else uvicorn's
        **uvicorn_options(),
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ping_interval_s,
        ws_ping_timeout=settings.ping_interval_s,
        timeout_graceful_shutdown=settings.drain_s,  # a float: uvicorn waits on it as one
        log_level=settings.log_level,
        log_config=logs,
        access_log=False,
        # X-Forwarded-For is read by liveroom.limits, and only from LIVEROOM_TRUSTED_PROXIES
        proxy_headers=False,
        server_header=False,
        lifespan="on",
    )
    app = "liveroom.app:app_from_env"
    if settings.workers > 1:
        uvicorn.run(app, workers=settings.workers, **options)
        return 0
    # One process: the listening socket is bound here, not by the event loop, which would
    # resolve the host on libuv's thread pool and leave four threads behind. With no other
    # thread sharing the descriptor table, every send's descriptor lookup in the kernel takes
    # its fast path, without taking a reference on the file (in a profile of the fan-out,
    # `fput` went from 0.5% of the samples to none).
    config = uvicorn.Config(app, **options)
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[config.bind_socket()])
    return 0 if server.started else 3


def token(args: argparse.Namespace) -> int:
    from liveroom import auth

    secret = args.secret or os.environ.get(ENV_PREFIX + "SECRET")
    if not secret:
        print("liveroom: give --secret or set LIVEROOM_SECRET", file=sys.stderr)
        return 2
    print(
        auth.mint(secret, args.user, name=args.name, room=args.room, role=args.role, ttl_s=args.ttl)
    )
    return 0


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    code = serve(args) if args.command == "serve" else token(args)
    sys.exit(code)
