"""``--netns``: the viewers in a network namespace of their own, as if on another machine.

On loopback a server's ``send`` does more than send: the kernel runs the receiving socket's
TCP processing and wakes the reader inside the sender's system call, so the server's CPU time
includes the viewers' receive path, work a viewer's own machine does in a real deployment.

``ViewerNamespace`` creates a namespace and a veth pair: the host end (server side) stays in
this namespace with an address only the pair uses; the viewer end goes into the new namespace.
The viewer end runs its receive path in NAPI, in a kernel thread of its own (GRO on, threaded
NAPI; the host end's TSO off, which veth needs for that), as a viewer machine's network card
and its softirq would. The other way round, a viewer's ACKs are processed in the viewer's own
system call, as on loopback. Client processes enter the namespace with ``enter`` before they
open a socket; the spawned server listens on the host end's address.

What the server's CPU figure then leaves out: besides the viewers' receive path, the thread
also sends the server's packets that waited in the queue while the ring was full, and releases
the server's socket buffers (``tcp_wfree``). That is the server's own work, about 0.7 µs of a
fan-out frame here (``BENCHMARKS.md``). So the figure is a lower bound, where loopback's is an
upper one.

Traffic stays on this machine, between this namespace and the one created here. Needs root
(``CAP_NET_ADMIN``) and iproute2's ``ip``. ``close`` deletes the namespace, which removes the
pair.

Creating, changing and removing the pair changes the machine's network, and some programs drop
what they are doing when it changes: Chromium aborts its page loads with
``net::ERR_NETWORK_CHANGED``. A namespace holds ``LOCK`` exclusively from ``open`` to ``close``;
such a program's work that must not be disturbed holds it shared (``network_steady``), so the
two never overlap (the browser tests and the ``--netns`` tests on the suite's two workers).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from loadtest.server import SetupError

NETNS_DIR = Path("/var/run/netns")
#: held exclusively while a ``ViewerNamespace`` exists, shared by ``network_steady``
LOCK = Path(tempfile.gettempdir()) / "liveroom-netns.lock"
CLONE_NEWNET = 0x40000000
SIOCETHTOOL = 0x8946
ETHTOOL_SGRO = 0x2C
ETHTOOL_STSO = 0x1F


class ViewerNamespace:
    """A namespace for the client processes, and the veth pair that joins it to this one."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.name = f"liveroom-lt-{tag}"
        self.host_dev = f"lth{tag}"  # interface names: 15 characters at most
        self.viewer_dev = f"ltv{tag}"
        octets = secrets.token_bytes(3)
        # a /30 picked at random in 198.18.0.0/15, the range set aside for benchmarks (RFC
        # 2544): no real network uses it, and runs side by side do not collide
        net = f"198.{18 + octets[0] % 2}.{octets[1]}"
        first = octets[2] % 64 * 4
        self.host = f"{net}.{first + 1}"
        self.viewer = f"{net}.{first + 2}"
        self.created = False
        self._lock: int | None = None  # ``LOCK``, held from ``open`` to ``close``
        self.sent_bytes = 0  # what the host end sent, read when the pair is removed
        self.napi_policy = os.environ.get("LOADTEST_NAPI_POLICY", "idle")

    @property
    def path(self) -> str:
        return str(NETNS_DIR / self.name)

    def open(self) -> ViewerNamespace:
        reason = missing()
        if reason:
            raise SetupError(reason)
        self._lock = _hold(fcntl.LOCK_EX)
        try:
            self._ip("netns", "add", self.name)
        except BaseException:
            self.close()
            raise
        self.created = True
        try:
            self._ip("link", "add", self.host_dev, "type", "veth", "peer", "name", self.viewer_dev)
            # features set here stay with the device when it moves into the namespace
            _ethtool(self.host_dev, ETHTOOL_STSO, 0)
            _ethtool(self.viewer_dev, ETHTOOL_SGRO, 1)
            self._ip("link", "set", self.viewer_dev, "netns", self.name)
            self._ip("addr", "add", f"{self.host}/30", "dev", self.host_dev)
            self._ip("link", "set", self.host_dev, "up")
            self._queue()
            inside = ("netns", "exec", self.name)
            self._ip(*inside, "ip", "addr", "add", f"{self.viewer}/30", "dev", self.viewer_dev)
            self._ip(*inside, "ip", "link", "set", self.viewer_dev, "up")
            self._ip(*inside, "ip", "link", "set", "lo", "up")
            # `ip netns exec` mounts the namespace's own /sys, where the viewer end shows
            threaded = f"/sys/class/net/{self.viewer_dev}/threaded"
            self._ip(*inside, "sh", "-c", f"echo 1 > {threaded} && test $(cat {threaded}) = 1")
            self._calm_napi()
        except OSError as exc:  # an ethtool ioctl
            self.close()
            raise SetupError(f"--netns could not set up the veth pair: {exc}") from None
        except BaseException:
            self.close()
            raise
        return self

    def _calm_napi(self) -> None:
        """The viewer end's NAPI thread must not preempt the server: a viewer machine's receive
        path does not run on the server's CPU. At normal priority the scheduler switches to it
        on nearly every wake-up (about 20,000 times a second in a 5,000-viewer fan-out), and
        the server pays for the switches. At ``LOADTEST_NAPI_POLICY`` (``idle``: runs when a
        CPU has nothing else; ``nice``: nice 19; ``normal``: leave it) it waits for a CPU."""
        policy = self.napi_policy
        if policy not in ("idle", "nice", "normal"):
            raise SetupError(f"LOADTEST_NAPI_POLICY={policy}: give idle, nice or normal")
        prefix = f"napi/{self.viewer_dev}-"[:15]  # a kernel thread's name: 15 characters
        found = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith(prefix):
                found += 1
                pid = int(entry.name)
                try:
                    if policy == "idle":
                        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
                    elif policy == "nice":
                        os.setpriority(os.PRIO_PROCESS, pid, 19)
                except OSError as exc:
                    raise SetupError(f"could not set {comm} to {policy}: {exc}") from None
        if not found:
            raise SetupError(f"no NAPI thread for {self.viewer_dev}: threaded NAPI is off")

    def _queue(self) -> None:
        """A queue in front of the host end. veth hands packets to the viewer end through a
        ring of 256; with no queue (veth's default) a packet that finds it full is dropped and
        TCP resends it after a timeout. With one, a full ring stops the queue instead, as a
        network card's full ring does (veth does that since Linux 6.16)."""
        _run("tc", "qdisc", "replace", "dev", self.host_dev, "root", "pfifo", "limit", "100000")

    def close(self) -> None:
        if self.created:
            self.created = False
            with contextlib.suppress(OSError, ValueError):
                stats = Path(f"/sys/class/net/{self.host_dev}/statistics/tx_bytes")
                self.sent_bytes = int(stats.read_text())
            with contextlib.suppress(SetupError, subprocess.TimeoutExpired):
                self._ip("netns", "del", self.name)
            with contextlib.suppress(SetupError, subprocess.TimeoutExpired):
                self._ip("link", "del", self.host_dev)  # a pair never moved into the namespace
        if self._lock is not None:
            os.close(self._lock)  # the network is steady again
            self._lock = None

    def __enter__(self) -> ViewerNamespace:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _ip(*args: str) -> None:
        """``ip ARGS``; ``_ip("netns", "exec", name, *command)`` runs a command inside."""
        _run("ip", *args)


def _hold(kind: int) -> int:
    """A descriptor on ``LOCK`` holding it (``fcntl.LOCK_EX`` or ``LOCK_SH``), once free."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, kind)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def network_steady() -> Iterator[None]:
    """While inside, no ``ViewerNamespace`` on this machine is made, changed or removed: it
    waits for one to be closed first, and one being opened waits for this to end."""
    fd = _hold(fcntl.LOCK_SH)
    try:
        yield
    finally:
        os.close(fd)


def missing() -> str | None:
    """Why ``--netns`` cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "--netns needs root (CAP_NET_ADMIN) to create a network namespace"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"--netns needs iproute2's {tool} command"
    return None


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise SetupError(f"{' '.join(command)}: {done.stderr.strip()}")


def enter(path: str) -> None:
    """Move this (single-threaded) process into the network namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _ethtool(dev: str, command: int, value: int) -> None:
    """One ETHTOOL_S* ioctl that takes a single value (``struct ethtool_value``)."""
    data = ctypes.create_string_buffer(struct.pack("II", command, value), 8)
    request = struct.pack("16sP", dev.encode(), ctypes.addressof(data)).ljust(40, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock, SIOCETHTOOL, request)
