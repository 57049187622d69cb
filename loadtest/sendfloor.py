"""The floor under the fan-out: what one write of a small frame to one socket costs here.

``python -m loadtest.sendfloor --viewers 5000 --rate 20 --duration 10 --server raw``

Starts a bare server process holding ``--viewers`` loopback connections and writes the same
``--bytes``-byte WebSocket text frame to every one of them ``--rate`` times a second; a client
process reads and discards. It prints the server's CPU (user and system) per write: no liveroom
code runs, so this is the cost of the transport and the kernel alone, the floor for any server
in Python on this machine. ``--server raw`` writes with uvloop's ``transport.write``;
``--server send`` calls ``send`` on a socket object sharing the transport's descriptor, as
liveroom's ``DirectOut`` does, and ``--server sendall`` makes the same calls from liveroom's C
send loop (``liveroom._sendall``), as the fan-out does (``--server sendall-py``: from its twin
in Python, ``liveroom.sendall``); ``--server websockets`` goes through a
bare ``websockets`` server and its ``broadcast()``, and ``--server node-ws`` runs
``node_floor.js``, a bare Node.js ``ws`` server (``node`` and the ``ws`` package on
``NODE_PATH``): the references the performance bar names. ``--netns`` puts the client in a
network namespace of its own (see ``netns.py``). ``--idle N`` opens N more connections that
stay open and are never written to, to see what the number of open sockets does to the cost of
one write (the platform mix holds 19,000 where the hot room alone holds 5,000).

Loopback or the namespace made here only; every loop is bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import resource
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from liveroom.protocol import ws_text_frame
from loadtest import netns
from loadtest.netns import ViewerNamespace

HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


class _Raw(asyncio.Protocol):
    def __init__(self, conns: list[Any], live: list[Any], sockets: bool) -> None:
        self.conns = conns
        self.live = live
        self.sockets = sockets
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self.sockets:  # a socket object on uvloop's descriptor, for send(2)
            pseudo = transport.get_extra_info("socket")
            self.transport = socket.socket(pseudo.family, pseudo.type, 0, pseudo.fileno())
            self.transport.setblocking(False)
        self.conns.append(self.transport)

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        for held in (self.conns, self.live):
            if self.transport in held:
                held.remove(self.transport)


def serve(port: int, kind: str, opts: dict[str, Any], out: Any) -> None:
    """The server process: accept ``viewers`` connections (and ``idle`` more), then write to
    the first ``viewers`` at ``rate``."""
    import uvloop

    _raise_fd_limit()
    gc.freeze()

    async def main() -> None:
        viewers, rate, duration = opts["viewers"], opts["rate"], opts["duration"]
        payload = b'{"events":[' + b",".join([b'"' + b"x" * 60 + b'"'] * 8) + b"]}"
        payload = payload[: opts["bytes"] - 4].ljust(opts["bytes"] - 4, b" ")
        conns: list[Any] = []  # every connection, the idle ones included
        live: list[Any] = []  # the first ``viewers``: the ones written to
        server: Any
        loop = asyncio.get_running_loop()
        if kind in ("raw", "send", "sendall", "sendall-py"):
            server = await loop.create_server(
                lambda: _Raw(conns, live, kind != "raw"), opts["host"], port, backlog=4096
            )
            send = _raw_sender(live, ws_text_frame(payload), kind)
        else:
            from websockets.asyncio.server import broadcast
            from websockets.asyncio.server import serve as ws_serve

            async def handler(ws: Any) -> None:
                conns.append(ws)
                await ws.wait_closed()

            server = await ws_serve(
                handler, opts["host"], port, compression=None, ping_interval=None
            )
            text = payload.decode()

            def send() -> int:
                broadcast(live, text)
                return len(live)

        out.send(("listening", 0))
        deadline = time.monotonic() + 60
        while len(conns) < viewers + opts["idle"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # let the handshakes' last bytes settle
        live[:] = conns[:viewers]
        writes = 0
        before, begin = _cpu(), time.monotonic()
        ticks = int(duration * rate)
        for i in range(ticks):
            wait = begin + i / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writes += send()
        await asyncio.sleep(1 / rate)
        after, end = _cpu(), time.monotonic()
        out.send(
            (
                "done",
                {
                    "connections": len(conns),
                    "idle": len(conns) - len(live),
                    "writes": writes,
                    "seconds": round(end - begin, 2),
                    "user_s": round(after[0] - before[0], 3),
                    "system_s": round(after[1] - before[1], 3),
                },
            )
        )
        server.close()

    uvloop.run(main())


def _raw_sender(conns: list[Any], wire: bytes, kind: str) -> Any:
    def write() -> int:
        for transport in conns:
            transport.write(wire)
        return len(conns)

    def send() -> int:  # the frame is small and the buffers drained: send takes it whole
        for sock in conns:
            sock.send(wire)
        return len(conns)

    fds = array.array("i")
    if kind == "sendall":
        from liveroom._sendall import send_all as send_fds
    elif kind == "sendall-py":
        from liveroom.sendall import send_all as send_fds

    def send_all() -> int:  # the same sends from liveroom's send loop, as the fan-out makes them
        if len(fds) != len(conns):  # the connections are all in before the first frame
            fds[:] = array.array("i", [sock.fileno() for sock in conns])
        send_fds(fds, wire)
        return len(conns)

    return {"raw": write, "send": send, "sendall": send_all, "sendall-py": send_all}[kind]


def read(host: str, port: int, viewers: int, seconds: float, out: Any, ns: str | None) -> None:
    """The client process: open ``viewers`` WebSocket connections and discard what comes."""
    import uvloop

    if ns:
        netns.enter(ns)
    _raise_fd_limit()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        received = [0]

        class Sink(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                received[0] += len(data)

        transports = []
        for i in range(viewers):
            sock = socket.create_connection((host, port))
            sock.setblocking(False)
            transport, _ = await loop.create_connection(Sink, sock=sock)
            transport.write(HANDSHAKE)
            transports.append(transport)
            if i % 200 == 199:
                await asyncio.sleep(0.01)
        out.send(("connected", viewers))
        await asyncio.sleep(seconds)
        out.send(("read", received[0]))
        for transport in transports:
            transport.close()

    uvloop.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.sendfloor", description=__doc__)
    parser.add_argument(
        "--server",
        choices=["raw", "send", "sendall", "sendall-py", "websockets", "node-ws"],
        default="raw",
    )
    parser.add_argument("--viewers", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=20.0, help="frames per viewer per second")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--bytes", type=int, default=200, help="payload bytes per frame")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--idle",
        type=int,
        default=0,
        help="more connections that are held open and never written to: what the number of "
        "open sockets does to the cost of a write",
    )
    parser.add_argument(
        "--netns",
        action="store_true",
        help="the client in a network namespace of its own (as loadtest's --netns; needs root)",
    )
    args = parser.parse_args()
    if args.idle < 0:
        parser.error("--idle must be 0 or more")
    if args.idle and args.server == "node-ws":
        parser.error("--idle is not supported with --server node-ws")
    with ViewerNamespace() if args.netns else contextlib.nullcontext() as namespace:
        result = measure(args, namespace)
    if namespace is not None:  # removed by now: what crossed the pair
        result["netns_sent_bytes"] = namespace.sent_bytes
    print(json.dumps(result))


def measure(args: argparse.Namespace, namespace: ViewerNamespace | None) -> dict[str, Any]:
    host = namespace.host if namespace else "127.0.0.1"
    port = args.port or _free_port()
    ctx = multiprocessing.get_context("spawn")
    srv_pipe, srv_end = ctx.Pipe()
    cli_pipe, cli_end = ctx.Pipe()
    opts = {
        "viewers": args.viewers,
        "rate": args.rate,
        "duration": args.duration,
        "bytes": args.bytes,
        "host": host,
        "idle": args.idle,
    }
    client = ctx.Process(
        target=read,
        args=(
            host,
            port,
            args.viewers + args.idle,
            args.duration + 70,
            cli_end,
            namespace and namespace.path,
        ),
        daemon=True,
    )
    if args.server == "node-ws":
        result = _node(args, host, port, client)
    else:
        server = ctx.Process(target=serve, args=(port, args.server, opts, srv_end), daemon=True)
        server.start()
        if not srv_pipe.poll(30):
            raise SystemExit("server did not start")
        srv_pipe.recv()
        client.start()
        if not srv_pipe.poll(args.duration + 90):
            raise SystemExit("no result from the server")
        _, result = srv_pipe.recv()
        client.terminate()
        server.join(5)
    cpu = result["user_s"] + result["system_s"]
    result.update(
        server=args.server,
        bytes=args.bytes,
        rate=args.rate,
        cpu_us_per_write=round(cpu / max(result["writes"], 1) * 1e6, 2),
        user_us_per_write=round(result["user_s"] / max(result["writes"], 1) * 1e6, 2),
        system_us_per_write=round(result["system_s"] / max(result["writes"], 1) * 1e6, 2),
        cores=os.cpu_count(),
        netns=bool(namespace),
    )
    return result


def _node(args: argparse.Namespace, host: str, port: int, client: Any) -> dict[str, Any]:
    """``--server node-ws``: ``node_floor.js`` (a bare ``ws`` server) instead of ``serve``."""
    if shutil.which("node") is None:
        raise SystemExit("--server node-ws needs node, and the ws package on NODE_PATH")
    script = Path(__file__).with_name("node_floor.js")
    command = ["node", str(script), host, str(port), str(args.viewers), str(args.rate)]
    command += [str(args.duration), str(args.bytes)]
    _raise_fd_limit()  # node inherits it
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as node:
        assert node.stdout is not None
        if "listening" not in node.stdout.readline():
            node.kill()
            raise SystemExit("the node server did not start (is ws on NODE_PATH?)")
        client.start()
        try:
            line = node.stdout.readline()
            node.wait(args.duration + 90)
        finally:
            client.terminate()
            if node.poll() is None:
                node.kill()
    if not line:
        raise SystemExit("no result from the node server")
    result: dict[str, Any] = json.loads(line)
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
