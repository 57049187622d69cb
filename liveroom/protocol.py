"""The WebSocket protocol, version 1, without I/O.

``decode(data)`` turns one client message into a command object or raises ``CommandError``.
``event(...)`` encodes one server event to JSON bytes; ``frame(events)`` joins encoded events into
the JSON array a server frame carries; ``ws_text_frame(payload)`` wraps a payload in the bytes of an
unmasked WebSocket text frame so it can be written straight to many transports.

Nothing here awaits. ``docs/protocol.md`` is the reference; keep the two in step.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from liveroom.errors import CommandError, ErrorCode

VERSION = 1
MAX_REQUEST_ID = 64
MAX_TOKEN = 4096
# Ids are matched whole, with ``fullmatch``, and anchored with ``\Z`` too: ``$`` also matches
# before a trailing newline, so ``re.match`` with ``$`` took ``abc\n`` for a room id. The classes
# are ASCII by construction (``\d`` and ``str.isdigit`` take any script's digits).
ROOM_ID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
USER_ID = re.compile(r"\A[A-Za-z0-9_.:@-]{1,64}\Z")
OBJECT_ID = re.compile(r"\A[A-Za-z0-9_.-]{1,64}\Z")  # no ":": it separates key parts
#: a stream epoch as a client hands it back (``?epoch=``)
EPOCH = re.compile(r"\A[A-Za-z0-9_-]{1,32}\Z")
OFFSET = re.compile(r"\A[0-9]{1,18}\Z")  # ``?offset=``: ASCII digits only (``int("٣") == 3``)
#: integer request ids are echoed as they came; past this a JavaScript client could not tell
#: two apart
MAX_INT_REQUEST_ID = 2**53 - 1

#: a client's request id, echoed in the reply exactly as sent
RequestId = str | int


# --------------------------------------------------------------------------- commands


# Not frozen, nor any command: one is made for every client frame, and a frozen dataclass sets
# each field through ``object.__setattr__``, which makes it cost about 2.5 times as much to
# make. Nothing changes a command once parsed.
@dataclass(slots=True)
class Command:
    """Base of client commands. ``id`` is the client's request id, echoed in the reply."""

    type: ClassVar[str] = ""
    #: the lowest role allowed to send it: viewer < host < admin
    role: ClassVar[str] = "viewer"
    #: whether an anonymous read-only viewer may send it
    anonymous: ClassVar[bool] = False
    id: RequestId

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid)


@dataclass(slots=True)
class Ping(Command):
    type: ClassVar[str] = "ping"
    anonymous: ClassVar[bool] = True


@dataclass(slots=True)
class RefreshToken(Command):
    """A fresh token for the same user and room, sent before the current one expires."""

    type: ClassVar[str] = "refresh"
    token: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        token = body.get("token")
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
            raise CommandError(ErrorCode.BAD_REQUEST, f"token must be 1 to {MAX_TOKEN} characters")
        return cls(rid, token)


ROLE_RANK = {"viewer": 0, "host": 1, "admin": 2}


def decode(data: str | bytes, commands: Mapping[str, type[Command]]) -> Command:
    """Parse one client message into one of ``commands`` (by its ``type``; a node's table is
    ``features.Dispatch.commands``). Raises ``CommandError`` with the reason; never anything
    else."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise CommandError(ErrorCode.BAD_JSON, "message is not valid JSON") from None
    if not isinstance(body, dict):
        raise CommandError(ErrorCode.BAD_JSON, "a command is a JSON object")
    rid = request_id(body)
    kind = body.get("type")
    if not isinstance(kind, str):
        raise CommandError(ErrorCode.BAD_REQUEST, "missing command type", id=rid)
    cls = commands.get(kind)
    if cls is None:
        raise CommandError(ErrorCode.UNKNOWN_TYPE, f"unknown command type {kind[:40]!r}", id=rid)
    try:
        return cls.parse(rid, body)
    except CommandError as exc:
        exc.details.setdefault("id", rid)
        raise


def request_id(body: dict[str, Any]) -> RequestId:
    """The command's request id: a string of 1 to 64 characters, or an integer a JavaScript
    number holds exactly. Either is echoed back unchanged (an integer stays an integer)."""
    rid = body.get("id")
    if isinstance(rid, str):
        if 0 < len(rid) <= MAX_REQUEST_ID:
            return rid
    elif isinstance(rid, int) and not isinstance(rid, bool):
        if -MAX_INT_REQUEST_ID <= rid <= MAX_INT_REQUEST_ID:
            return rid
    raise CommandError(
        ErrorCode.BAD_REQUEST,
        f"every command needs an id: 1 to {MAX_REQUEST_ID} characters, or a safe integer",
    )


# --------------------------------------------------------------------------- validation helpers


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise CommandError(ErrorCode.BAD_REQUEST, f"{name} must be a string")
    return value


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommandError(ErrorCode.BAD_REQUEST, f"{name} must be a whole number")
    if not low <= value <= high:
        raise CommandError(ErrorCode.BAD_REQUEST, f"{name} must be between {low} and {high}")
    return value


def _ident(value: Any, name: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise CommandError(ErrorCode.BAD_REQUEST, f"{name} is missing or malformed")
    return value


int_field = _int
ident_field = _ident
text_field = _text


# --------------------------------------------------------------------------- server side


def event(kind: str, **fields: Any) -> bytes:
    """Encode one event without an offset (replies, private and state events)."""
    return orjson.dumps({"type": kind, **fields})


def kept(data: bytes) -> bytes:
    """A right-sized copy of ``orjson.dumps``' output, for bytes that are kept for long.

    Since 3.12, orjson hands back a bytes object whose buffer is never shrunk to its length:
    at least 4 kB, and the next power of two for a longer one. Kept per viewer or per event,
    a value of 60 bytes would hold 4 kB. The copy holds its length."""
    return bytes(memoryview(data))


def room_event_body(kind: str, given: dict[str, Any] | None = None, /, **fields: Any) -> bytes:
    """Encode a room event before the engine gives it its offset.

    The engine prepends ``{"offset":N,`` to the body's bytes (see ``with_offset``), so the
    event is encoded once, on the node that publishes it. ``given``: fields already in a dict,
    ahead of ``fields`` (a comment's: passing them as keywords would pack them again).
    """
    if given is not None:
        return orjson.dumps({"type": kind, **given, **fields})
    return orjson.dumps({"type": kind, **fields})


OFFSET_PREFIX = b'{"offset":'


def with_offset(offset: int, body: bytes) -> bytes:
    """Splice an offset in front of an encoded room event: the stored, published form."""
    return b'{"offset":%d,%s' % (offset, body[1:])


def offset_of(payload: bytes) -> int:
    """Read the offset of a stored room event without parsing the rest of it."""
    return int(payload[10 : payload.index(b",", 10)])


#: a stored chat event's head: its offset, its type, then its ``ts`` (``room_event_body``)
STAMPED = re.compile(rb'\{"offset":\d+,"type":"[^"\\]*","ts":(-?[0-9][0-9.eE+-]*),')


def stamp_of(
    payload: bytes, _match: Callable[[bytes], re.Match[bytes] | None] = STAMPED.match
) -> float | None:
    """The ``ts`` of a stored chat event (a comment or a system message: the accepting node's
    clock, seconds since the epoch), which ``room_event_body`` puts right after its type;
    None for an event with no ``ts`` there."""
    found = _match(payload)
    if found is None:
        return None
    try:
        return float(found[1])
    except ValueError:  # digits and signs that make no number
        return None


def frame(events: list[bytes]) -> bytes:
    """Join encoded events into one server frame: a JSON array."""
    return b"[" + b",".join(events) + b"]"


def reply(rid: RequestId, **result: Any) -> bytes:
    return event("reply", id=rid, ok=True, **result)


def reply_frame(rid: RequestId, result: dict[str, Any] | None) -> bytes:
    """``frame([reply(rid, **result)])`` in one encoding: a command's answer, as sent."""
    if result:
        return orjson.dumps([{"type": "reply", "id": rid, "ok": True, **result}])
    return orjson.dumps([{"type": "reply", "id": rid, "ok": True}])


def error_reply(exc: CommandError, rid: RequestId | None = None) -> bytes:
    body = exc.as_dict()
    rid = rid if rid is not None else body.pop("id", None)  # type: ignore[assignment]
    body.pop("id", None)
    return event("reply", id=rid, ok=False, error=body)


def ws_text_frame(payload: bytes | bytearray, /) -> bytes:
    """The wire bytes of one unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2).

    Built once per server frame, then written unchanged to every viewer's transport.
    """
    n = len(payload)
    if n < 126:
        return b"\x81" + bytes((n,)) + payload
    if n < 65536:
        return b"\x81\x7e" + struct.pack("!H", n) + payload
    return b"\x81\x7f" + struct.pack("!Q", n) + payload


#: the Python framing, kept when the compiled one below replaces it (tests compare the two)
python_ws_text_frame = ws_text_frame

try:  # the same bytes in one allocation, where the fan-out's C loop was built (``setup.py``)
    from liveroom._sendall import ws_text_frame
except ImportError:  # not built: the Python framing above
    pass
