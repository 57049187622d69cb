"""The compiled viewer clients of ``python -m loadtest platform --clients native``.

``loadtest/viewers.c`` is one client process: many viewers on one epoll loop, checking each
frame as ``loadtest.viewer.SimViewer`` does (offsets, epochs, latency in 0.1 ms steps). It is
built here on first use with the machine's C compiler (``$CC``, else ``cc``, else ``gcc``) into
a cache directory (``$LIVEROOM_NATIVE_CACHE``, else ``~/.cache/liveroom``), under a name that
carries a hash of its source and of the compiler, so an edit builds afresh.

``NativePool`` runs such processes and answers the ``rooms_*`` ops of ``loadtest.rooms`` with
the same arguments and the same answers, so ``platform`` drives either kind of client through
one interface. The parent mints every viewer's token and numbers the rooms and classes; each
process is told its viewers, then the op, one line each (the protocol is in ``viewers.c``).
What they count is what the Python viewers' ``Tally`` counts, but for its latency over time
(``series``), which ``platform`` does not report.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import orjson

from liveroom import auth
from loadtest.pool import Clients

SOURCE = Path(__file__).with_name("viewers.c")
FLAGS = ("-O2", "-Wall")


class BuildError(Exception):
    """The client could not be compiled (no C compiler, or the compiler failed)."""


class NativeFailed(Exception):
    """A client process died or gave no answer in time."""


def binary() -> Path:
    """The built client, compiled first when this source (or the compiler) has not been."""
    given = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not given:
        raise BuildError("--clients native needs a C compiler (cc or $CC) on PATH")
    compiler = shlex.split(given)  # $CC may be a command with arguments ("ccache gcc")
    try:
        version = subprocess.run(
            [*compiler, "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"the C compiler {given!r} cannot run: {exc}") from exc
    source = SOURCE.read_bytes()
    key = "\n".join((" ".join(compiler), version, *FLAGS)).encode()
    digest = hashlib.sha256(source + key).hexdigest()[:16]
    cache = Path(os.environ.get("LIVEROOM_NATIVE_CACHE") or Path.home() / ".cache" / "liveroom")
    built = cache / f"viewers-{digest}"
    if built.exists():
        return built
    cache.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix="viewers-", dir=cache)
    os.close(fd)
    try:
        done = subprocess.run(
            [*compiler, *FLAGS, "-o", temp, str(SOURCE), "-lm"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired as exc:
        Path(temp).unlink(missing_ok=True)
        raise BuildError(f"{given} took over 300 s on {SOURCE.name}") from exc
    if done.returncode != 0:
        Path(temp).unlink(missing_ok=True)
        raise BuildError(f"{given} failed on {SOURCE.name}:\n{done.stderr}")
    os.replace(temp, built)  # whole or not at all, when two runs build at once
    return built


class NativePool(Clients):
    """``size`` compiled client processes; ``async with NativePool(...) as pool``.

    ``config`` is ``loadtest.pool.Pool``'s: ``host``, ``port``, ``secret``, and ``nice`` and
    ``netns`` for the processes."""

    def __init__(self, size: int, config: dict[str, Any], start_timeout: float = 30.0) -> None:
        self.size = max(1, size)
        self.config = config
        self.start_timeout = start_timeout
        self.procs: list[asyncio.subprocess.Process] = []
        self.niceness: list[int] = [0] * self.size
        self.room_ids: dict[str, int] = {}
        self.class_ids: dict[str, int] = {}

    async def __aenter__(self) -> NativePool:
        path = await asyncio.to_thread(binary)
        args = ["--host", self.config["host"], "--port", str(self.config["port"])]
        if self.config.get("nice"):
            args += ["--nice", str(self.config["nice"])]
        if self.config.get("netns"):
            args += ["--netns", self.config["netns"]]
        try:
            for index in range(self.size):
                proc = await asyncio.create_subprocess_exec(
                    str(path),
                    *args,
                    "--index",
                    str(index),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    limit=64 * 2**20,  # a report's latency counts come as one line
                )
                self.procs.append(proc)
            for index in range(self.size):
                ready = await self._answer(index, "ready", self.start_timeout)
                self.niceness[index] = int(ready.get("nice", 0))
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for proc in self.procs:
            if proc.returncode is None and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    # ------------------------------------------------------------------ plumbing

    async def _send(self, index: int, lines: list[str]) -> None:
        stdin = self.procs[index].stdin
        assert stdin is not None
        stdin.write("".join(line + "\n" for line in lines).encode())
        try:
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise NativeFailed(f"client process {index} died") from exc

    async def _answer(self, index: int, op: str, wait_s: float) -> dict[str, Any]:
        """Process ``index``'s answer to ``op``: one JSON line."""
        stdout = self.procs[index].stdout
        assert stdout is not None
        try:
            line = await asyncio.wait_for(stdout.readline(), wait_s)
        except TimeoutError:
            raise NativeFailed(f"client process {index} gave no answer in {wait_s:g} s") from None
        except ValueError as exc:  # a line over the reader's limit
            raise NativeFailed(f"client process {index}: {exc}") from exc
        if not line:
            code = await self.procs[index].wait()
            raise NativeFailed(f"client process {index} exited ({code})")
        try:
            answer: dict[str, Any] = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise NativeFailed(f"client process {index} answered {line[:200]!r}") from exc
        if answer.get("op") != op:
            raise NativeFailed(f"client process {index} answered {answer.get('op')!r} to {op!r}")
        return answer

    async def call(self, index: int, op: str, wait_s: float, **args: Any) -> Any:
        if not op.startswith("rooms_"):
            raise NativeFailed(f"the compiled clients run the rooms ops only, not {op!r}")
        lines, parse = getattr(self, "_" + op)(**args)
        await self._send(index, lines)
        return parse(await self._answer(index, op.removeprefix("rooms_"), wait_s))

    def _room(self, room: str) -> int:
        return self.room_ids.setdefault(room, len(self.room_ids))

    def _heads(self, heads: dict[str, int]) -> dict[str, int]:
        """A process's heads by room index, as the rooms' names."""
        names = {i: room for room, i in self.room_ids.items()}
        return {names[int(i)]: head for i, head in heads.items()}

    # ------------------------------------------------------------------ the rooms ops

    def _rooms_connect(
        self, shares: list[list[Any]], concurrency: int, timeout: float
    ) -> tuple[list[str], Any]:
        lines = []
        secret = self.config["secret"]
        for room, kind, first, count in shares:
            r = self._room(room)
            k = self.class_ids.setdefault(kind, len(self.class_ids))
            for n in range(first, first + count):
                token = auth.mint(secret, f"{room}-u{n}", room=room, ttl_s=86400)
                lines.append(f"v {r} {k} /ws?room={room}&token={token}")
        lines.append(f"connect {concurrency} {timeout}")
        return lines, lambda a: {key: a[key] for key in ("opened", "snapshots", "all_s")}

    def _rooms_traffic(
        self, publish: list[list[Any]], duration: float, t0: float
    ) -> tuple[list[str], Any]:
        lines = [f"pub {self._room(room)} {rate}" for room, rate in publish]
        lines.append(f"traffic {duration}")
        return lines, lambda a: {
            "heads": self._heads(a["heads"]),
            "sent": a["sent"],
            "cpu_s": a["cpu_s"],
        }

    def _given(self, heads: dict[str, int]) -> list[str]:
        return [f"head {i} {heads[room]}" for room, i in self.room_ids.items() if room in heads]

    def _rooms_drain(self, heads: dict[str, int], timeout: float) -> tuple[list[str], Any]:
        return [*self._given(heads), f"drain {timeout}"], lambda a: {
            "behind": a["behind"],
            "missing": a["missing"],
            "heads": self._heads(a["heads"]),
        }

    def _rooms_report(self, heads: dict[str, int]) -> tuple[list[str], Any]:
        names = {i: kind for kind, i in self.class_ids.items()}

        def parse(a: dict[str, Any]) -> dict[str, Any]:
            out = {}
            for k, summary in a["classes"].items():
                for name in ("latency", "join_latency", "reply_latency"):
                    summary[name] = {int(key): n for key, n in summary[name].items()}
                out[names[int(k)]] = summary
            return out

        return [*self._given(heads), "report"], parse

    def _rooms_close(self) -> tuple[list[str], Any]:
        return ["close"], lambda a: {}
