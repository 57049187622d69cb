"""The Dockerfile, deploy/compose.yaml and deploy/nginx.conf agree with the package."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import fields
from urllib.parse import urlparse

import pytest
from starlette.routing import Route, WebSocketRoute

from liveroom import cli
from liveroom.app import create_app
from liveroom.config import ENV_PREFIX, Settings
from tests.deploy.manifests import (
    COMPOSE,
    DOCKERFILE,
    NGINX_CONF,
    ROOT,
    compose,
    dockerfile,
    env_of,
    interpolate,
    nginx_location,
    nginx_upstream_servers,
)

SETTING_NAMES = {ENV_PREFIX + f.name.upper() for f in fields(Settings)}
INSTRUCTIONS = dockerfile()
FINAL = max(ins.stage for ins in INSTRUCTIONS)
IMAGE_ENV = env_of(INSTRUCTIONS, FINAL)


def _last(keyword: str) -> list[str]:
    found = [ins for ins in INSTRUCTIONS if ins.keyword == keyword and ins.stage == FINAL]
    assert found, f"the final stage has no {keyword}"
    return found[-1].exec_form()


def _app_paths() -> tuple[set[str], set[str]]:
    app = create_app(Settings(secret="s" * 32, demo=False))
    http = {r.path for r in app.routes if isinstance(r, Route)}
    ws = {r.path for r in app.routes if isinstance(r, WebSocketRoute)}
    return http, ws


def _liveroom_services() -> dict[str, dict[str, object]]:
    services = compose()["services"]
    return {
        name: s for name, s in services.items() if "LIVEROOM_ENGINE" in s.get("environment", {})
    }


# ---------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_and_slim() -> None:
    """At least two stages; the runtime stage is a slim Python image at the package's version."""
    froms = [ins.args for ins in INSTRUCTIONS if ins.keyword == "FROM"]
    assert len(froms) >= 2
    assert "slim" in froms[-1]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    low = re.search(r">=\s*3\.(\d+)", requires)
    version = next(
        ins.args for ins in INSTRUCTIONS if ins.keyword == "ARG" and "PYTHON" in ins.args
    )
    assert low and int(version.split("=")[1].split(".")[1]) >= int(low.group(1))


def test_dockerfile_runs_as_a_non_root_user() -> None:
    """The runtime stage ends on a USER that is not root."""
    user = _last("USER")[0]
    assert user.split(":")[0] not in ("root", "0")


def test_dockerfile_entry_point_is_liveroom_serve() -> None:
    """ENTRYPOINT + CMD is ``liveroom serve``: the package's console script and subcommand."""
    command = _last("ENTRYPOINT") + _last("CMD")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert command[0] in scripts and scripts[command[0]] == "liveroom.cli:main"
    args = cli.build_parser().parse_args(command[1:])
    assert args.command == "serve"


def test_dockerfile_env_names_are_settings() -> None:
    """Every LIVEROOM_* variable the image sets is a Settings field, and its value reads."""
    names = {k for k in IMAGE_ENV if k.startswith(ENV_PREFIX)}
    assert names and names <= SETTING_NAMES, names - SETTING_NAMES
    settings = Settings.from_env({k: v for k, v in IMAGE_ENV.items() if k in names})
    assert settings.host == "0.0.0.0", "inside a container the server must listen beyond loopback"
    assert settings.demo is False


def test_dockerfile_port_and_health_check_agree_with_the_app() -> None:
    """EXPOSE is LIVEROOM_PORT; the HEALTHCHECK asks that port for a path the app serves."""
    port = int(IMAGE_ENV["LIVEROOM_PORT"])
    assert int(_last("EXPOSE")[0].split("/")[0]) == port
    health = next(ins for ins in INSTRUCTIONS if ins.keyword == "HEALTHCHECK").args
    m = re.search(r"http://127\.0\.0\.1:[^/]*/(\w+)", health)
    assert m, health
    http_paths, _ = _app_paths()
    assert "/" + m.group(1) == "/healthz" and "/healthz" in http_paths
    assert f"'LIVEROOM_PORT', '{port}'" in health


def test_dockerfile_copies_what_the_package_needs_and_nothing_ignored() -> None:
    """The build copies the package (its demo pages are package data, so no LIVEROOM_DEMO_DIR),
    every source exists, and nothing the build copies is .dockerignore'd."""
    copies = [ins.exec_form() for ins in INSTRUCTIONS if ins.keyword == "COPY"]
    sources = {s.rstrip("/") for args in copies for s in args[:-1]}
    assert "liveroom" in sources
    assert "LIVEROOM_DEMO_DIR" not in IMAGE_ENV
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for args in copies:
        if any(a.startswith("--from") for a in args):
            continue  # from an earlier stage, not the build context
        for source in args[:-1]:
            assert (ROOT / source.rstrip("/")).exists() or source == "./", source
            assert source.rstrip("/") not in ignored, f"{source} is copied but .dockerignore'd"


# ---------------------------------------------------------------------- compose


def test_compose_runs_redis_two_nodes_and_nginx() -> None:
    """Redis, at least two liveroom nodes built from the Dockerfile, and nginx."""
    data = compose()
    services = data["services"]
    nodes = _liveroom_services()
    assert len(nodes) >= 2
    assert any("redis" in str(s.get("image", "")) for s in services.values())
    assert any("nginx" in str(s.get("image", "")) for s in services.values())
    for node in nodes.values():
        build = node["build"]
        assert isinstance(build, dict)
        assert (
            COMPOSE.parent / build["context"] / build.get("dockerfile", "Dockerfile")
        ).resolve() == DOCKERFILE


@pytest.mark.parametrize("service", sorted(_liveroom_services()))
def test_compose_env_names_are_settings(service: str) -> None:
    """Each node's LIVEROOM_* variables are Settings fields and make valid settings."""
    env = {k: interpolate(str(v)) for k, v in _liveroom_services()[service]["environment"].items()}  # type: ignore[attr-defined]
    assert set(env) <= SETTING_NAMES, set(env) - SETTING_NAMES
    settings = Settings.from_env({**IMAGE_ENV, **env})
    assert settings.engine == "redis", "nodes share rooms only through Redis"
    assert settings.secret and settings.api_key
    redis_host = urlparse(settings.redis_url).hostname
    assert redis_host in compose()["services"]


def test_compose_trusts_only_nginx_forwarded_for() -> None:
    """LIVEROOM_TRUSTED_PROXIES names nginx's fixed address, which is on the nodes' network."""
    data = compose()
    nginx = next(s for s in data["services"].values() if "nginx" in str(s.get("image", "")))
    addresses = [net["ipv4_address"] for net in nginx["networks"].values()]
    for node in _liveroom_services().values():
        trusted = node["environment"]["LIVEROOM_TRUSTED_PROXIES"]  # type: ignore[index]
        settings = Settings(trusted_proxies=str(trusted))
        assert settings.proxies and all(
            any(ipaddress.ip_address(a) in net for a in addresses) for net in settings.proxies
        )


def test_compose_nginx_mounts_the_shipped_config() -> None:
    """nginx gets deploy/nginx.conf as its main config."""
    nginx = next(s for s in compose()["services"].values() if "nginx" in str(s.get("image", "")))
    mounts = [v.split(":") for v in nginx["volumes"]]
    assert any(
        (COMPOSE.parent / src).resolve() == NGINX_CONF and dst == "/etc/nginx/nginx.conf"
        for src, dst, *_ in mounts
    )


# ---------------------------------------------------------------------- nginx.conf


def test_nginx_upstream_is_the_compose_nodes_on_the_image_port() -> None:
    """Every upstream server is a liveroom service on LIVEROOM_PORT, and every node is listed."""
    port = int(IMAGE_ENV["LIVEROOM_PORT"])
    servers = nginx_upstream_servers()
    assert {host for host, _ in servers} == set(_liveroom_services())
    assert {p for _, p in servers} == {port}


def test_nginx_upgrades_the_app_websocket_path() -> None:
    """The WebSocket location is the app's, with Upgrade/Connection and no buffering."""
    _, ws_paths = _app_paths()
    assert ws_paths == {"/ws"}
    body = nginx_location(NGINX_CONF, "/ws")
    conf = NGINX_CONF.read_text()
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade", conf)
    assert re.search(r"proxy_set_header\s+Connection\s+\$connection_upgrade", conf)
    assert re.search(r"proxy_buffering\s+off", body)
    read_timeout = re.search(r"proxy_read_timeout\s+(\d+)s", body)
    assert read_timeout and int(read_timeout.group(1)) > 2 * Settings().ping_interval_s


def test_nginx_sets_proxy_headers_once_for_every_location() -> None:
    """No location sets a header of its own: nginx would then drop X-Forwarded-For there."""
    conf = NGINX_CONF.read_text()
    for location in re.findall(r"location\s+[^{]*{(.*?)}", conf, re.S):
        assert "proxy_set_header" not in location
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr", conf)
