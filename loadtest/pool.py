"""The parent's side of the client processes: start them, send ops, gather answers and progress."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from loadtest import worker


class WorkerFailed(Exception):
    """A client process failed an op or died."""


class Clients:
    """What every kind of client pool shares: ``all``, an op on every process at once, over the
    pool's ``call`` (an op on one process), and ``nice``, from the priorities the processes
    reported when they started (``niceness``)."""

    size: int
    niceness: list[int]

    @property
    def nice(self) -> int:
        """How much lower than this process the client processes run (``--client-nice``), as
        the lowest of them reported it."""
        return max(self.niceness) - os.nice(0)

    async def call(self, index: int, op: str, wait_s: float, **args: Any) -> Any:
        raise NotImplementedError

    async def all(
        self, op: str, wait_s: float, per: list[dict[str, Any]] | None = None, **args: Any
    ) -> list[Any]:
        """Run ``op`` on every process at once; ``per[i]`` adds arguments for process ``i``."""
        calls = [
            self.call(i, op, wait_s, **{**args, **(per[i] if per else {})})
            for i in range(self.size)
        ]
        return list(await asyncio.gather(*calls))


class Pool(Clients):
    """``size`` client processes. Use as ``async with Pool(...) as pool``."""

    def __init__(self, size: int, config: dict[str, Any], start_timeout: float = 30.0) -> None:
        self.size = max(1, size)
        self.config = config
        self.start_timeout = start_timeout
        self.procs: list[BaseProcess] = []
        self.conns: list[Connection] = []
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.progress: list[dict[str, Any]] = [{} for _ in range(self.size)]
        self.ready: list[asyncio.Future[Any]] = []
        #: each client process's CPU priority, as it reported it when ready (``--client-nice``)
        self.niceness: list[int] = [0] * self.size
        self.seq = itertools.count(1)

    async def __aenter__(self) -> Pool:
        ctx = multiprocessing.get_context("spawn")
        loop = asyncio.get_running_loop()
        for index in range(self.size):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=worker.main,
                args=(child, index, self.config),
                daemon=True,
                name=f"loadtest-client-{index}",
            )
            proc.start()
            child.close()
            self.procs.append(proc)
            self.conns.append(parent)
            self.ready.append(loop.create_future())
            loop.add_reader(parent.fileno(), self._readable, index)
            os.set_blocking(parent.fileno(), True)  # whole messages only (see worker.main)
        try:
            await asyncio.wait_for(asyncio.gather(*self.ready), self.start_timeout)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        loop = asyncio.get_running_loop()
        for index, conn in enumerate(self.conns):
            loop.remove_reader(conn.fileno())
            if self.procs[index].is_alive():
                try:
                    conn.send((0, "close", {}))
                except OSError:
                    pass
        deadline = time.monotonic() + 10
        for proc in self.procs:
            while proc.is_alive() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.is_alive():
                proc.kill()
            proc.join(1)
        for conn in self.conns:
            conn.close()

    def _readable(self, index: int) -> None:
        conn = self.conns[index]
        try:
            message = conn.recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(conn.fileno())
            for waiter in self.waiting.values():
                if not waiter.done():
                    waiter.set_exception(WorkerFailed(f"client process {index} died"))
            if not self.ready[index].done():
                self.ready[index].set_exception(WorkerFailed(f"client process {index} died"))
            return
        kind = message[0]
        if kind == "progress":
            self.progress[message[1]] = message[2]
        elif kind == "ready":
            self.niceness[index] = message[2].get("nice", 0)
            if not self.ready[index].done():
                self.ready[index].set_result(None)
        else:
            seq = message[1]
            future = self.waiting.pop(seq) if seq in self.waiting else None
            if future is None or future.done():
                return
            if kind == "done":
                future.set_result(message[2])
            else:
                future.set_exception(WorkerFailed(f"client process {index}: {message[2]}"))

    async def call(self, index: int, op: str, wait_s: float, **args: Any) -> Any:
        """Run ``op`` on one client process and return its answer."""
        seq = next(self.seq)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[seq] = future
        self.conns[index].send((seq, op, args))
        try:
            return await asyncio.wait_for(future, wait_s)
        finally:
            self.waiting.pop(seq, None)

    def totals(self) -> dict[str, int]:
        """Progress counts summed over processes (as last pushed)."""
        out: dict[str, int] = {}
        for counts in self.progress:
            for key, value in counts.items():
                out[key] = out.get(key, 0) + value
        return out

    def split(self, total: int) -> list[int]:
        """``total`` shared out over the processes as evenly as possible."""
        base, extra = divmod(total, self.size)
        return [base + (1 if i < extra else 0) for i in range(self.size)]
