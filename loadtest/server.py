"""The server under test: spawned by the harness or given by URL, its HTTP API and its processes.

``SpawnedServer`` runs ``python -m liveroom serve`` on loopback with ``LIVEROOM_*`` settings and
a fresh secret and API key. ``Target`` is what a run talks to either way: ports, secrets, the
HTTP API (stdlib ``urllib``, called from a thread), ``/metrics`` and the server's processes
(psutil) for CPU time and RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import psutil


class SetupError(Exception):
    """The run cannot start: no server, a feature missing, bad options."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Usage:
    """CPU seconds and RSS of the server's processes at one moment."""

    cpu_s: float
    rss: int
    at: float
    system_s: float = 0.0  # the kernel's part of ``cpu_s``


@dataclass
class Target:
    """The server a run talks to."""

    port: int
    secret: str
    api_key: str
    pids: list[int] = field(default_factory=list)
    host: str = "127.0.0.1"
    #: the viewers' ``ViewerNamespace`` (``--netns``): client processes enter it, and once the
    #: run is over it tells what the pair carried
    namespace: Any = None
    #: the local webhook receiver of a ``--feed`` run (``loadtest.receiver.FeedReceiver``)
    feed: Any = None
    #: caps the server processes' CPU now, for a run whose quota starts with the traffic
    #: (``--quota-from traffic``; ``Run.connect`` calls it once the viewers are in); None when
    #: there is nothing left to cap
    cap_now: Callable[[], None] | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ HTTP

    def _request(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        data = orjson.dumps(body) if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                detail = orjson.loads(raw)
            except orjson.JSONDecodeError:
                detail = raw[:200].decode("latin-1")
            raise HttpError(exc.code, path, detail) from None
        ctype = ""
        if raw[:1] in (b"{", b"["):
            ctype = "json"
        return orjson.loads(raw) if ctype == "json" else raw.decode()

    async def http(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """Call the HTTP API with the backend's API key. Raises ``HttpError`` on 4xx/5xx."""
        return await asyncio.to_thread(self._request, method, path, body, timeout)

    async def metric(self, name: str) -> float | None:
        """The sum of a ``/metrics`` sample over its labels (one process answers), or None."""
        try:
            text = await self.http("GET", "/metrics", timeout=5.0)
        except (HttpError, OSError):
            return None
        return metric_sum(str(text), name)

    async def exists(self, path: str) -> bool:
        """Whether ``path`` is routed (anything but 404/405 means yes)."""
        try:
            await self.http("GET", path, timeout=5.0)
        except HttpError as exc:
            return exc.status not in (404, 405)
        except OSError:
            return False
        return True

    # ------------------------------------------------------------------ processes

    def processes(self) -> list[psutil.Process]:
        procs: list[psutil.Process] = []
        for pid in self.pids:
            try:
                root = psutil.Process(pid)
                procs.append(root)
                procs.extend(root.children(recursive=True))
            except psutil.Error:
                continue
        return procs

    def usage(self) -> Usage | None:
        """CPU seconds (user + system) and RSS summed over the server's processes."""
        procs = self.processes()
        if not procs:
            return None
        cpu = system = 0.0
        rss = 0
        for proc in procs:
            try:
                times = proc.cpu_times()
                cpu += times.user + times.system
                system += times.system
                rss += proc.memory_info().rss
            except psutil.Error:
                continue
        return Usage(cpu, rss, time.monotonic(), system)


class HttpError(Exception):
    def __init__(self, status: int, path: str, detail: Any) -> None:
        super().__init__(f"HTTP {status} from {path}: {detail}")
        self.status = status
        self.detail = detail


async def wait_ready(
    target: Target, timeout: float, failed: Callable[[], str | None] = lambda: None
) -> None:
    """Poll ``/readyz`` until it answers 200. ``SetupError`` after ``timeout`` seconds, or at
    once when ``failed()`` returns a reason the server cannot come up (a spawned one exited)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        reason = failed()
        if reason:
            raise SetupError(reason)
        try:
            await target.http("GET", "/readyz", timeout=1.0)
            return
        except HttpError as exc:
            last = f"/readyz answered {exc.status}"
        except (OSError, http.client.HTTPException) as exc:  # nothing there yet, or not HTTP
            last = str(exc) or type(exc).__name__
        if time.monotonic() > deadline:
            raise SetupError(f"server on port {target.port} not ready in {timeout:.0f}s: {last}")
        await asyncio.sleep(0.1)


def metric_sum(text: str, name: str) -> float | None:
    """Sum every sample of ``name`` (``name`` or ``name_total``) in Prometheus text format."""
    pattern = re.compile(rf"^{re.escape(name)}(?:_total)?(?:{{[^}}]*}})? ([0-9.eE+-]+)$", re.M)
    values = [float(v) for v in pattern.findall(text)]
    return sum(values) if values else None


def server_settings(items: list[str] | None) -> dict[str, Any]:
    """``--server-setting NAME=VALUE`` flags as settings for ``SpawnedServer`` (names as
    ``Settings`` spells them: lower case, ``_`` for ``-``)."""
    settings: dict[str, Any] = {}
    for item in items or []:
        key, _, value = item.partition("=")
        settings[key.strip().lower().replace("-", "_")] = value
    return settings


class SpawnedServer:
    """``python -m liveroom serve`` on a free port of ``host`` (loopback, or the host end of
    ``--netns``'s veth pair), stopped on exit."""

    def __init__(
        self,
        *,
        processes: int = 1,
        engine: str = "memory",
        redis_url: str = "redis://127.0.0.1:6379/0",
        tick_ms: int = 50,
        port: int = 0,
        settings: dict[str, Any] | None = None,
        profile: str | None = None,
        cpu_quota: float | None = None,
        host: str = "127.0.0.1",
        wrap: list[str] | None = None,
        quota_from_traffic: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        if processes > 1 and engine != "redis":
            raise SetupError("--processes above 1 needs --engine redis")
        if profile and processes > 1:
            raise SetupError("--profile works with one server process")
        self.port = port or free_port()
        self.secret = secrets.token_urlsafe(24)
        self.api_key = secrets.token_urlsafe(24)
        self.prefix = "lt" + secrets.token_hex(4)
        self.engine = engine
        self.redis_url = redis_url
        self.profile = profile
        self.processes = processes
        self.cpu_quota = cpu_quota
        #: the cap waits for ``Target.cap_now`` (after the viewers joined) instead of the start
        self.quota_from_traffic = quota_from_traffic
        self.cgroups: list[Path] = []
        self.values: dict[str, Any] = {
            "host": host,
            "port": self.port,
            "engine": engine,
            "redis_url": redis_url,
            "redis_prefix": self.prefix,
            "workers": processes,
            "tick_ms": tick_ms,
            "secret": self.secret,
            "api_key": self.api_key,
            "demo": False,
            "log_level": "warning",
            "max_conns_per_ip": 0,
            "admit_address_rate": 0,  # every viewer comes from one address here
            # the scenarios measure what the server can take: no admission rate (a 1013 would
            # count as a failed join); ``loadtest.storm`` sets one
            "admit_rate": 0,
            **(settings or {}),
        }
        self.log = Path(tempfile.gettempdir()) / f"loadtest-server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        #: a command the server runs under (valgrind, say): its pid is the server's
        self.wrap = wrap or []
        #: more of the server's environment (``loadtest.cpusamples.server_env``, say)
        self.extra_env = env or {}

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in self.values.items():
            text = ("1" if value else "0") if isinstance(value, bool) else str(value)
            env["LIVEROOM_" + key.upper()] = text
        env.update(self.extra_env)
        return env

    async def start(self, timeout: float = 30.0) -> Target:
        command = [sys.executable, "-m", "liveroom", "serve"]
        if self.profile:
            command = [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                self.profile,
                "-m",
                "liveroom",
                "serve",
            ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.wrap + command, env=self.env(), stdout=log, stderr=log
            )
        proc = self.proc
        target = Target(self.port, self.secret, self.api_key, [proc.pid], self.values["host"])
        deadline = time.monotonic() + timeout

        def exited() -> str | None:
            return None if proc.poll() is None else "server exited at start"

        try:
            await wait_ready(target, timeout, exited)
        except SetupError as exc:
            self.stop()
            raise SetupError(f"{exc}; see {self.log}") from None
        if self.cpu_quota:
            cores = self.cpu_quota
            if self.quota_from_traffic:
                self.cgroups = cap_cpu(await self._workers(deadline), None)
                target.cap_now = lambda: set_quota(self.cgroups, cores)
            else:
                self.cgroups = cap_cpu(await self._workers(deadline), cores)
        return target

    async def workers(self, timeout: float = 10.0) -> list[int]:
        """The pids that serve (``_workers``), waiting up to ``timeout`` for them."""
        return await self._workers(time.monotonic() + timeout)

    async def _workers(self, deadline: float) -> list[int]:
        """The pids that serve: the process itself, or the supervisor's worker processes."""
        assert self.proc is not None
        if self.processes == 1:
            return [self.proc.pid]
        while True:
            workers = [
                child.pid
                for child in psutil.Process(self.proc.pid).children()
                if "resource_tracker" not in " ".join(child.cmdline())
            ]
            if len(workers) >= self.processes:
                return workers
            if time.monotonic() > deadline:
                raise SetupError(f"{len(workers)} of {self.processes} workers started")
            await asyncio.sleep(0.1)

    def stop(self, timeout: float = 15.0) -> None:
        try:
            self._stop(timeout)
        finally:
            for group in self.cgroups:
                release_cgroup(group)
            self.cgroups = []

    def _stop(self, timeout: float) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:  # the workers, so that none outlives a supervisor that has to be killed
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            children = []
        proc.send_signal(signal.SIGINT if self.profile else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for child in children:
            with contextlib.suppress(psutil.Error):
                if child.is_running():
                    child.kill()
        if self.engine == "redis":
            self._clean_redis()

    def _clean_redis(self) -> None:
        try:
            import redis
        except ImportError:
            return
        try:
            client = redis.Redis.from_url(self.redis_url)
            keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
            client.close()
        except redis.RedisError:
            pass


CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


def _cgroup_root() -> tuple[Path, bool]:
    """Where the cpu controller's groups go, and whether it is cgroup v1."""
    v1 = (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists()
    return (CGROUP_V1_CPU if v1 else CGROUP_V2), v1


def _write_quota(group: Path, v1: bool, cores: float | None) -> None:
    """Cap ``group`` at ``cores`` CPUs; None lifts the cap."""
    if v1:
        (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        quota = "-1" if cores is None else str(max(1000, int(cores * PERIOD_US)))
        (group / "cpu.cfs_quota_us").write_text(quota)
    else:
        quota = "max" if cores is None else str(max(1000, int(cores * PERIOD_US)))
        (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")


def set_quota(groups: list[Path], cores: float | None) -> None:
    """Change the cap of groups made by ``cap_cpu``."""
    _, v1 = _cgroup_root()
    for group in groups:
        _write_quota(group, v1, cores)


def cap_cpu(pids: list[int], cores: float | None) -> list[Path]:
    """Put each pid in a new cgroup of its own, capped at ``cores`` CPUs (v1 ``cpu`` controller,
    or v2 ``cpu.max``; None: no cap yet, see ``set_quota``). Returns the groups, to remove once
    the processes have exited."""
    root, v1 = _cgroup_root()
    groups: list[Path] = []
    try:
        for pid in pids:
            group = root / f"loadtest-{os.getpid()}-{pid}"
            group.mkdir()
            groups.append(group)
            _write_quota(group, v1, cores)
            (group / "cgroup.procs").write_text(str(pid))
    except OSError as exc:
        for group in groups:
            with contextlib.suppress(OSError):
                for pid_text in (group / "cgroup.procs").read_text().split():
                    (root / "cgroup.procs").write_text(pid_text)
                group.rmdir()
        raise SetupError(
            f"--server-cpu-quota needs a writable cgroup cpu controller: {exc}"
        ) from None
    return groups


def release_cgroup(group: Path, timeout: float = 10.0) -> None:
    """Kill whatever is still in ``group`` (a worker the supervisor left behind), then remove
    it. Says so on stderr if it cannot."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    try:
        group.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        print(f"loadtest: could not remove cgroup {group}: {exc}", file=sys.stderr)


def target_from_url(url: str, secret: str | None, api_key: str | None, pids: list[int]) -> Target:
    """A running server at ``url`` (loopback only), with the secrets it was started with."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SetupError("load tests send traffic to loopback only: use a 127.0.0.1 URL")
    secret = secret or os.environ.get("LIVEROOM_SECRET")
    if not secret:
        raise SetupError("give --secret (or LIVEROOM_SECRET): the server's token secret")
    return Target(parts.port or 80, secret, api_key or os.environ.get("LIVEROOM_API_KEY", ""), pids)
