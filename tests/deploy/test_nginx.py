"""The shipped nginx config, run for real in front of two liveroom nodes sharing Redis."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from tests.deploy.manifests import NGINX_CONF, nginx_upstream_servers
from tests.liveclient import LiveClient
from tests.processes import free_port, retry_on_taken_port, start_process
from tests.servers import API_KEY, ServerProcess
from tests.timeouts import scaled

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (nginx-light)")

#: what nginx writes under its prefix instead of the system's /var/lib/nginx and /var/log/nginx
LOCAL_PATHS = """http {
    access_log logs/access.log;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
"""


def render(conf: str, listen: int, nodes: list[int]) -> str:
    """The shipped config with only its listen port and upstream servers changed."""
    shipped = nginx_upstream_servers()
    assert len(shipped) == len(nodes)
    for (host, port), node in zip(shipped, nodes, strict=True):
        conf, n = re.subn(rf"server\s+{re.escape(host)}:{port}\b", f"server 127.0.0.1:{node}", conf)
        assert n == 1
    conf, n = re.subn(r"listen\s+80;", f"listen 127.0.0.1:{listen};", conf)
    assert n == 1
    conf, n = re.subn(r"^http\s*{\n", LOCAL_PATHS, conf, flags=re.M)
    assert n == 1
    return conf


class Nginx:
    def __init__(self, prefix: Path, nodes: list[int]) -> None:
        self.port = free_port()
        self.nodes = nodes
        (prefix / "logs").mkdir()
        (prefix / "tmp").mkdir()
        self.conf = prefix / "nginx.conf"
        self.prefix = prefix
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        """Start, and return once ``/readyz`` answers through it; on a new port if the one
        picked was taken meanwhile."""
        assert NGINX is not None
        foreground = f"daemon off; pid {self.prefix}/nginx.pid;"

        def launch() -> subprocess.Popen[bytes]:
            self.conf.write_text(render(NGINX_CONF.read_text(), self.port, self.nodes))
            return start_process(
                [
                    NGINX,
                    "-p",
                    str(self.prefix),
                    "-c",
                    str(self.conf),
                    "-e",
                    "stderr",
                    "-g",
                    foreground,
                ],
                lambda _: httpx.get(self.url + "/readyz", timeout=0.5).status_code == 200,
                what=f"nginx on port {self.port}",
                log=self.prefix / "logs" / "nginx.log",
                timeout=15,
            )

        self.proc = retry_on_taken_port(launch, self._move)
        return self

    def _move(self) -> None:
        self.port = free_port()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def front(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Nginx, list[ServerProcess]]]:
    """Two redis-engine nodes on loopback and nginx in front of them with the shipped config."""
    prefix = "lrt-" + uuid.uuid4().hex[:10]
    settings = {"engine": "redis", "redis_url": redis_url, "redis_prefix": prefix}
    nodes = [ServerProcess(**settings, trusted_proxies="127.0.0.1") for _ in range(2)]
    nginx: Nginx | None = None
    try:
        with ThreadPoolExecutor(len(nodes)) as pool:  # start both at once: CI machines are slow
            list(pool.map(ServerProcess.start, nodes))
        nginx = Nginx(tmp_path_factory.mktemp("nginx"), [n.port for n in nodes]).start()
        yield nginx, nodes
    finally:
        if nginx is not None:
            nginx.stop()
        for node in nodes:
            node.stop()
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


async def test_viewers_through_nginx_get_fan_out_from_both_nodes(
    front: tuple[Nginx, list[ServerProcess]],
) -> None:
    """Viewers behind nginx land on both nodes, and each sees every viewer's comment."""
    nginx, _ = front
    ws_url = nginx.url.replace("http", "ws") + "/ws"
    clients = [await LiveClient.connect(ws_url, room="shop", user=f"v{i}") for i in range(4)]
    try:
        welcomes = [await c.event("welcome") for c in clients]
        assert len({w["node"] for w in welcomes}) == 2, "least_conn should use both nodes"
        for client in clients:
            await client.event("snapshot")
        for i, client in enumerate(clients):
            answer = await client.command("comment", text=f"hello from {i}")
            assert answer["ok"] is True, answer
        for client in clients:
            for i in range(len(clients)):
                await client.event("comment", text=f"hello from {i}")
    finally:
        for client in clients:
            await client.close()


async def test_api_through_nginx_reaches_every_node(
    front: tuple[Nginx, list[ServerProcess]],
) -> None:
    """A system message posted through nginx reaches viewers on the node it did not go to."""
    nginx, nodes = front
    direct = [
        await LiveClient.connect(n.ws_url, room="shop", user=f"d{i}") for i, n in enumerate(nodes)
    ]
    try:
        for client in direct:
            await client.event("snapshot")
        async with httpx.AsyncClient(base_url=nginx.url, timeout=scaled(5)) as http:
            answer = await http.post(
                "/api/rooms/shop/system",
                json={"text": "through nginx"},
                headers={"authorization": f"Bearer {API_KEY}"},
            )
            assert answer.status_code == 200, answer.text
            assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"]), "nginx's id"
            spec = await http.get("/openapi.json")
            assert spec.status_code == 200 and "/api/rooms/{room}/system" in spec.json()["paths"]
        for client in direct:
            await client.event("system", text="through nginx")
    finally:
        for client in direct:
            await client.close()
