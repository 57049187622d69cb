"""Start a server process and wait until it is ready: the one way the tests run liveroom,
redis-server, nginx or uvicorn.

A port picked free (bound to port 0, then released) can be taken by another process, often by
some connection's local end, before the server binds it; under load that happened to dozens of
tests at once. A server that exits at start because its port is in use is started again on a
new port, a few times at most.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from tests.timeouts import StopWaiting, wait_until

T = TypeVar("T")

#: starts in all, when each port picked free was taken before the server bound it
PORT_ATTEMPTS = 5


def free_port() -> int:
    """A port on 127.0.0.1 that nothing is bound to right now (it may be taken the next moment)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ExitedAtStart(StopWaiting, RuntimeError):
    """The process ended before it was ready; ``output`` is what it wrote meanwhile."""

    def __init__(self, what: str, output: str) -> None:
        super().__init__(f"{what} exited at start:\n{output[-2000:]}")
        self.output = output

    @property
    def port_taken(self) -> bool:
        """Whether it could not bind its port: another process had it."""
        return "address already in use" in self.output.lower()


def start_process(
    command: Sequence[str],
    ready: Callable[[subprocess.Popen[bytes]], object],
    *,
    what: str,
    log: Path,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Run ``command`` with its output appended to ``log``, and poll ``ready(process)`` until it
    is truthy (its errors count as "not yet"), under the scaled ``timeout``. If the process ends
    first: ``ExitedAtStart``, with what it wrote; at the deadline: ``RuntimeError``. A process
    that did not get ready is killed."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        offset = out.tell()  # the log may hold earlier runs: read only this one's output
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=out)

    def started() -> object:
        if proc.poll() is not None:
            with open(log, "rb") as written:
                written.seek(offset)
                raise ExitedAtStart(what, written.read().decode(errors="replace"))
        return ready(proc)

    try:
        wait_until(started, timeout, f"{what} not ready (see {log})")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise
    return proc


def retry_on_taken_port(start: Callable[[], T], move: Callable[[], None]) -> T:
    """``start()``; when it fails with ``ExitedAtStart`` because its port was taken, ``move()``
    to new free ports and start again, ``PORT_ATTEMPTS`` times in all."""
    for _ in range(PORT_ATTEMPTS - 1):
        try:
            return start()
        except ExitedAtStart as exc:
            if not exc.port_taken:
                raise
            move()
    return start()
