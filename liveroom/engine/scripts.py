"""Lua scripts: read from ``lua/*.lua`` once, called by SHA, reloaded on NOSCRIPT.

On a standalone Redis the calls of one turn of the event loop go out together: every script
call made while the loop runs its ready callbacks joins one queue, and the next turn sends the
queue as one non-transactional pipeline of EVALSHAs, on the node's own connection for them
(``lane.py``; ``pipeline`` on a pooled connection where the lane cannot go, ``Lane.of``: TLS,
Sentinel, a credential provider), without redis-py's ``Pipeline``; a call alone in its turn is
a pipeline of one.
The calls of a turn share the packing and the write; the node's pulse of 2,000 rooms is four
pipelines. Each caller still gets its own reply, or its own error. On a lane already connected
the pipeline is written by a callback, and once the lane's protocol has read all its replies a
callback hands them to the callers, with no task between (``Scripts._write``): a task takes
over only to connect, to wait for a full write buffer, or to send again after a lost
connection.

A call whose connection was lost (or timed out) may or may not have run. redis-py would send
it again as it was (``redis_retry.py``); here it is sent again only as its script's header
allows (docs/architecture.md, "Script calls after a lost connection"):

- ``-- retry: safe``: running it twice has the effect and the answer of running it once (a
  read, a set, a step guarded by a request id); sent again as it was;
- ``-- retry: lookup``: the script finds its first attempt itself. It is sent again as its
  *retry variant*, registered beside it: the same source after ``RETRY = true``, and one more
  ARGV at the end, ``RETRY_MS``: how long ago, in ms of this process' clock plus a margin, the
  first attempt was sent. The variant reads that ARGV off (``table.remove``) before the script
  runs, so both see the same ARGV. The first attempt pays nothing for it: ``RETRY`` is false;
- no header: not sent again; the caller gets the error (``EngineUnavailable`` through the
  guard), as it does for any call that fails every try.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import re
import time
from collections.abc import Coroutine
from importlib import resources
from typing import Any

from redis.exceptions import ClusterDownError, NoScriptError, ResponseError, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from liveroom.engine.lane import Lane
from liveroom.engine.redis_retry import adopt, once, send_once

#: script calls in one pipeline at most; a longer queue goes as several, one after another
MAX_PIPELINE = 500

#: the package whose ``lua/`` folder holds the core's scripts; a feature passes its own
CORE = "liveroom.engine"
#: a line ``-- uses: <lib>`` in a script (or its family's head, or a library) puts the core's
#: ``lua/<lib>.lua`` in front of it: ``stream_lib`` (the one way to append to a room's stream or
#: read its epoch), ``coupon_lib`` (the one way to use a coupon or give it back), ``order_lib``
#: (the one way to confirm, cancel or expire a reserved order; it uses ``coupon_lib``)
USES = re.compile(r"^-- uses: ([a-z_]+_lib)$", re.MULTILINE)


def _lua_dir(package: str = CORE) -> Any:
    return resources.files(package).joinpath("lua")


def load_source(name: str, package: str = CORE) -> str:
    """The text of ``lua/<name>.lua`` shipped in ``package``."""
    return _lua_dir(package).joinpath(f"{name}.lua").read_text("utf-8")


#: a script's own word on being sent again after a lost connection (module docstring)
RETRY_MODE = re.compile(r"^-- retry: (safe|lookup)$", re.MULTILINE)
#: what the retry variant of a ``lookup`` script and its first attempt put before the source
RETRY_HEAD = "local RETRY = true\nlocal RETRY_MS = tonumber(table.remove(ARGV))\n"
FIRST_HEAD = "local RETRY = false\nlocal RETRY_MS = 0\n"
#: added to a retry's ``RETRY_MS``: the retry's own way to Redis and its wait there, and the
#: two clocks' drift, all of which may lie between the first attempt's run and the retry's
RETRY_MARGIN_MS = 1000
#: a lost connection, or no reply in time: the call may have run, or not
LOST = (RedisConnectionError, RedisTimeoutError)
#: the Cluster refused the call before running it (no master for the slot, mid-failover)
REFUSED = (ClusterDownError, SlotNotCoveredError)


class Script:
    """One registered script: its first-attempt form and what a second try sends."""

    __slots__ = ("again", "first", "lookup", "mode")

    def __init__(self, client: Any, source: str) -> None:
        found = RETRY_MODE.search(source)
        self.mode = found.group(1) if found else ""
        self.lookup = self.mode == "lookup"
        self.first = client.register_script(FIRST_HEAD + source if self.lookup else source)
        #: what a second try sends, or None when the script may not be sent again
        self.again: Any = None
        if self.lookup:
            self.again = client.register_script(RETRY_HEAD + source)
        elif self.mode == "safe":
            self.again = self.first

    def again_args(self, args: list[Any], sent: float) -> list[Any]:
        """ARGV of a second try of a call first sent at ``sent`` (``time.monotonic()``)."""
        if not self.lookup:
            return args
        return [*args, int((time.monotonic() - sent) * 1000) + RETRY_MARGIN_MS]


#: the core's head every script gets first: ``outbox(key, type, data)`` (docs/events.md)
OUTBOX_LIB = "outbox_lib"


def script_source(name: str, package: str = CORE) -> str:
    """What is registered for script ``name``, in this order: the outbox head
    (``outbox_lib.lua``, shared by every script); each core library the script or its family's
    head names in a ``-- uses: <lib>`` line (``USES``), in the order named; its family's shared
    head, when there is one (``bag_lib.lua`` before every ``bag_*.lua``, ``packet_lib.lua``
    before ``packet_*``); then its own file. A library's own ``-- uses:`` lines put what it uses
    in front of it (``order_lib`` brings ``coupon_lib``), each library once. Lua scripts cannot
    include each other; this is how they share code."""
    lib = name.partition("_")[0] + "_lib"
    shipped = _lua_dir(package).joinpath(f"{lib}.lua").is_file()
    if lib == name or not shipped:
        source = load_source(name, package)
    else:
        source = load_source(lib, package) + "\n" + load_source(name, package)
    libs: dict[str, str] = {}
    for used in USES.findall(source):
        _add_lib(used, libs, set())
    return load_source(OUTBOX_LIB) + "\n" + "\n".join([*libs.values(), source])


def _add_lib(name: str, libs: dict[str, str], on_the_way: set[str]) -> None:
    """Put core library ``name`` into ``libs`` after the libraries it uses, each once."""
    if name in libs or name in on_the_way:  # there already, or a cycle
        return
    on_the_way.add(name)
    source = load_source(name)
    for used in USES.findall(source):
        _add_lib(used, libs, on_the_way)
    libs[name] = source


class Scripts:
    """Holds one registered script per ``.lua`` file; ``await scripts.run(name, keys, args)``,
    with ``package=__package__`` for a feature's own ``lua/`` folder.

    redis-py's ``AsyncScript`` computes the SHA once; calls use EVALSHA, and a call answered
    NOSCRIPT (after a restart, a failover or ``SCRIPT FLUSH``) is made again on its own, which
    loads the script.

    With ``pipelined`` (a standalone Redis) calls are queued and sent once per loop turn as one
    pipeline (see the module's docstring). Callers run them inside ``RedisCore.guard``, as
    before: a pipeline that cannot reach Redis fails every call in it with the client's own
    error, which the guard turns into ``EngineUnavailable``. A caller cancelled while its call
    is queued does not take the call back: its effect happens, the reply is dropped. On a
    cluster every call goes on its own (redis-py's cluster client routes it to its slot).

    A call whose connection is lost is sent again by this class, never by redis-py, as its
    script allows (the module's docstring); as often as the client's retry policy says, with
    its backoff. ``client`` gets an ``OnceRetry`` with its own policy (``redis_retry.adopt``).
    """

    def __init__(self, client: Any, *, pipelined: bool = False) -> None:
        self._client = client
        policy = adopt(client)
        self._retries = policy.tries_again
        self._backoff = policy.backoff_s
        self._scripts: dict[tuple[str, str], Script] = {}
        self._pipelined = pipelined
        #: calls waiting for the next pipeline: (script, keys, args, the caller's future)
        self._queue: list[tuple[Script, list[Any], list[Any], asyncio.Future[Any]]] = []
        #: pipelines on their way (held here: the loop keeps only weak references to tasks)
        self._sending: set[asyncio.Task[None]] = set()
        #: the pipelines' own connection (``lane.py``); None: each takes a pooled one
        self._lane = Lane.of(getattr(client, "connection_pool", None)) if pipelined else None

    async def aclose(self) -> None:
        """Close the pipelines' own connection (the engine's close)."""
        if self._lane is not None:
            await self._lane.aclose()

    def get(self, name: str, package: str = CORE) -> Script:
        script = self._scripts.get((package, name))
        if script is None:
            script = Script(self._client, script_source(name, package))
            self._scripts[(package, name)] = script
        return script

    async def run(self, name: str, keys: list[Any], args: list[Any], package: str = CORE) -> Any:
        """Script ``name``'s reply to ``keys`` and ``args``; raises what the call raised."""
        script = self.get(name, package)
        if not self._pipelined:
            return await self._call(script, keys, args)
        return await self._enqueue(script, keys, args)

    async def run_many(
        self,
        name: str,
        calls: list[tuple[list[Any], list[Any]]],
        package: str = CORE,
        each: bool = False,
    ) -> list[Any]:
        """Script ``name`` once per ``(keys, args)``, in order, in as few pipelines as the
        calls fill (``pipelined`` only: a cluster's calls go one by one, each under its own
        guard, ``RedisCore.run_many``). The replies in order, a call Redis refused
        (``ResponseError``) in its place; a pipeline that failed as a whole (an unreachable
        Redis) raises, unless ``each``: then its error too is in the place of each of its
        calls, and the calls of the other pipelines keep their replies."""
        if not calls:
            return []
        script = self.get(name, package)
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        for keys, args in calls:
            futures.append(loop.create_future())
            self._queue.append((script, keys, args, futures[-1]))
        if len(self._queue) == len(calls):
            self._schedule()
        try:
            await asyncio.wait(futures)
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        errors = [future.exception() for future in futures]  # all read: none logged unread
        for error in errors:
            if error is not None and not each and not isinstance(error, ResponseError):
                raise error
        return [
            error if error is not None else future.result()
            for future, error in zip(futures, errors, strict=True)
        ]

    async def _call(
        self, script: Script, keys: list[Any], args: list[Any], since: float | None = None
    ) -> Any:
        """One call on its own (a cluster's, or one answered NOSCRIPT in a pipeline), sent
        again after a lost connection as ``script`` allows. ``since``: the call is a second
        try already, of a first attempt sent then (``time.monotonic()``)."""
        sent = time.monotonic() if since is None else since
        form, sending = script.first, args
        if since is not None:
            form, sending = script.again, script.again_args(args, since)
        tries = 0
        while True:
            try:
                with once():
                    return await _alone(form, keys, sending)
            except REFUSED:
                tries += 1  # not run: the same form again
                if tries > self._retries:
                    raise
            except LOST:
                tries += 1
                if script.again is None or tries > self._retries:
                    raise
                form, sending = script.again, script.again_args(args, sent)
            delay = self._backoff(tries)
            if delay > 0:
                await asyncio.sleep(delay)

    async def _enqueue(self, script: Script, keys: list[Any], args: list[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((script, keys, args, future))
        if len(self._queue) == 1:
            self._schedule()
        return await future

    def _schedule(self) -> None:
        # on the next turn, so that every call queued in this turn joins the pipeline; a clean
        # context, since the caller's (a connection's log ids) is not the pipeline's
        if self._lane is not None:
            asyncio.get_running_loop().call_soon(self._write, context=contextvars.Context())
        else:
            self._start(self._send())

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        """``work`` in a task of its own, held until it ends."""
        task = asyncio.get_running_loop().create_task(work, context=contextvars.Context())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _write(self) -> None:
        """The turn's calls written on the lane at once, their replies handed out as they
        arrive (``_answered``), with no task: the path of nearly every pipeline. A task
        (``_send``) takes the queue instead where the lane has no connection ready to write
        on (its first use, after a loss, its write buffer over the mark) or the queue is
        longer than one pipeline; and after a lost connection the pipeline's calls go on in
        one (``_pipeline``), sent again as their scripts allow."""
        queue = self._queue
        if not queue:
            return
        lane = self._lane
        protocol = lane.ready() if lane is not None else None
        if lane is None or protocol is None or len(queue) > MAX_PIPELINE:
            self._start(self._send())
            return
        self._queue = []
        sent = time.monotonic()
        try:
            replies = protocol.send(lane.pack(_first_tries(queue)), len(queue))
        except LOST as exc:
            self._start(self._pipeline(queue, exc, sent))
            return
        except Exception as exc:  # an argument no command can carry: every call fails with it,
            for *_, future in queue:  # as a pipeline that raised fails them (``_pipeline``)
                _settle(future, exc)
            return
        replies.add_done_callback(functools.partial(self._answered, queue, sent))

    def _answered(
        self,
        calls: list[tuple[Script, list[Any], list[Any], Any]],
        sent: float,
        replies: asyncio.Future[list[Any]],
    ) -> None:
        """A pipeline ``_write`` sent came back, or failed."""
        error = replies.exception() if not replies.cancelled() else asyncio.CancelledError()
        if error is not None:
            self._start(self._pipeline(calls, error, sent))
            return
        unknown = self._hand_out(calls, replies.result())
        if unknown:
            self._start(self._load(unknown, None))

    def _hand_out(
        self, calls: list[tuple[Script, list[Any], list[Any], Any]], replies: list[Any]
    ) -> list[tuple[Script, list[Any], list[Any], Any]]:
        """Each call's reply, or its error, to its caller; the calls Redis answered NOSCRIPT
        are returned, in their order, for ``_load``."""
        unknown = []
        for call, reply in zip(calls, replies, strict=True):
            if isinstance(reply, NoScriptError):
                unknown.append(call)
            else:
                _settle(call[3], reply)
        return unknown

    async def _load(
        self, calls: list[tuple[Script, list[Any], list[Any], Any]], since: float | None
    ) -> None:
        """Calls answered NOSCRIPT (Redis lost its scripts), one by one in their order: the
        first of a script loads it, its later calls find it (``since``: a second try's first
        attempt, as for ``_call``)."""
        try:
            for script, keys, args, future in calls:
                try:
                    reply = await self._call(script, keys, args, since)
                except Exception as exc:  # noqa: BLE001 - the call's own error
                    reply = exc
                _settle(future, reply)
        finally:
            # only when cancelled (the loop is closing): no caller may wait for ever
            for *_, future in calls:
                if not future.done():
                    future.cancel()

    async def _send(self) -> None:
        """Send the queue, ``MAX_PIPELINE`` calls a pipeline, one pipeline after another."""
        send_once()  # this task's commands: redis-py never sends them again (module docstring)
        queue, self._queue = self._queue, []
        try:
            for start in range(0, len(queue), MAX_PIPELINE):
                await self._pipeline(queue[start : start + MAX_PIPELINE])
        finally:
            # only when cancelled (the loop is closing): no caller may wait for ever
            for *_, future in queue:
                if not future.done():
                    future.cancel()

    async def _pipeline(
        self,
        calls: list[tuple[Script, list[Any], list[Any], Any]],
        failed: BaseException | None = None,
        sent: float | None = None,
    ) -> None:
        """One pipeline's calls, sent until each has its reply or its error. ``failed``: the
        first try was made already (``_write``, at ``sent``) and failed so."""
        sent = time.monotonic() if sent is None else sent
        # what goes on the wire for each call after a lost connection: the form its script
        # allows (Script.again); None: every call's first form (the first try)
        wire: list[tuple[Any, list[Any]]] | None = None
        retried = False
        tries = 0
        while True:
            try:
                if failed is not None:
                    error, failed = failed, None
                    raise error
                replies = await self._execute(calls, wire)
                break
            except LOST as exc:
                tries += 1
                again = []
                for script, keys, args, future in calls:
                    if script.again is None or tries > self._retries:
                        if not future.done():
                            future.set_exception(exc)
                    else:
                        again.append((script, keys, args, future))
                if not again:
                    return
                calls = again
                retried = True
                wire = [(s.again, s.again_args(a, sent)) for s, _, a, _ in calls]
                delay = self._backoff(tries)
                if delay > 0:
                    await asyncio.sleep(delay)
            except BaseException as exc:
                for *_, future in calls:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return
        # Redis lost its scripts: a call answered NOSCRIPT once more on its own loads its
        # script; the pipeline's later calls of it go after it in their order (a second try
        # stays one: its script finds the first)
        unknown = self._hand_out(calls, replies)
        if unknown:
            await self._load(unknown, sent if retried else None)

    async def _execute(
        self,
        calls: list[tuple[Script, list[Any], list[Any], Any]],
        wire: list[tuple[Any, list[Any]]] | None,
    ) -> list[Any]:
        """One try of a pipeline's calls: each call's first form, or with ``wire`` each
        ``(registered form, ARGV)`` of it with the keys of the same call of ``calls``. A call
        Redis refused is its ``ResponseError`` in the replies; a lost connection raises."""
        if wire is None:
            commands = _first_tries(calls)
        else:
            commands = [
                ("EVALSHA", form.sha, len(keys), *keys, *args)
                for (form, args), (_, keys, _, _) in zip(wire, calls, strict=True)
            ]
        if self._lane is not None:
            return await self._lane.pipeline(commands)
        return await pipeline(self._client.connection_pool, commands)


def _first_tries(calls: list[tuple[Script, list[Any], list[Any], Any]]) -> list[tuple[Any, ...]]:
    """Each call's command in its script's first form: once per script call, kept lean."""
    return [
        ("EVALSHA", script.first.sha, len(keys), *keys, *args) for script, keys, args, _ in calls
    ]


def _settle(future: asyncio.Future[Any], reply: Any) -> None:
    """A call's reply, or the error in its place, to its caller (unless it was cancelled)."""
    if future.done():
        return
    if isinstance(reply, Exception):
        future.set_exception(reply)
    else:
        future.set_result(reply)


async def pipeline(pool: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """``commands`` written at once on one pooled connection, and their replies read in order:
    a command Redis refused is its ``ResponseError`` in its place. What redis-py's ``Pipeline``
    does for a non-transactional pipeline, without its per-pipeline work that a script call
    does not need (its retry, whose sending again the caller decides; its observability
    records; its stack of options per command; a task for the shielded release of a
    connection it may still hold). The connection goes back to the pool as it was only when
    every reply was read: after any failure, or a cancellation, it is closed first, so no reply
    is left on it for the next user. A lost connection raises redis-py's ``ConnectionError``
    (or ``TimeoutError``), as its pipeline does."""
    connection = await pool.get_connection()
    try:
        await connection.send_packed_command(connection.pack_commands(commands))
        replies: list[Any] = []
        # one deadline, the socket timeout, for all the replies (up to ``MAX_PIPELINE`` of
        # them), where ``read_response`` arms a timer for each one: 4.5% of a node's time in
        # the platform mix. Without a socket timeout of its own it arms none, and a socket
        # error (ETIMEDOUT too) still raises and closes the connection.
        timeout = connection.socket_timeout
        async with asyncio.timeout(timeout):
            connection.socket_timeout = None
            try:
                for _ in commands:
                    try:
                        replies.append(await connection.read_response())
                    except ResponseError as exc:
                        replies.append(exc)
            finally:
                connection.socket_timeout = timeout
    except BaseException as exc:
        try:
            await connection.disconnect()
        finally:  # shielded, as redis-py does: a second cancel must not leave it half released
            await asyncio.shield(pool.release(connection))
        if type(exc) is TimeoutError:  # the deadline above: what redis-py raises for its own
            raise RedisTimeoutError(f"Timeout reading from {connection.host}") from None
        raise
    await pool.release(connection)
    return replies


async def _alone(script: Any, keys: list[Any], args: list[Any]) -> Any:
    """One script call on its own (a cluster client routes it to the keys' slot)."""
    try:
        return await script(keys=keys, args=args)
    except AttributeError as exc:
        # redis-py 8's cluster client can, under load, hand a command a connection that
        # another task has just disconnected: it fails writing ("'NoneType' object has no
        # attribute 'writelines'") before a byte is sent, so sending again is safe.
        if "writelines" not in str(exc):
            raise
        return await script(keys=keys, args=args)
