"""Every code a client can see, and the one exception root.

Exception tree::

    LiveroomError            base of everything liveroom raises on purpose
    ├── CommandError         a command was refused; carries an ErrorCode, goes back as a reply
    ├── AuthError            a token was refused; carries the CloseCode to close with
    └── EngineUnavailable    the shared state (Redis) cannot be reached right now

The codes are documented in ``docs/protocol.md``; keep the two in step.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ErrorCode(StrEnum):
    """Codes in error replies (WebSocket) and error bodies (HTTP)."""

    BAD_JSON = "bad_json"
    BAD_REQUEST = "bad_request"
    UNKNOWN_TYPE = "unknown_type"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    MUTED = "muted"
    TOO_LONG = "too_long"
    EMPTY = "empty"
    DUPLICATE = "duplicate"
    READ_ONLY = "read_only"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    CONFLICT = "conflict"
    # flash-sale answers
    SOLD_OUT = "sold_out"
    LIMIT_REACHED = "limit_reached"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    INVALID_QUANTITY = "invalid_quantity"
    # lucky bags
    PRIZE_OVER_CAP = "prize_over_cap"
    # product cards and red packets
    CARDS_FULL = "cards_full"
    ALREADY_GRABBED = "already_grabbed"
    ALL_GRABBED = "all_grabbed"
    KEYWORD_REQUIRED = "keyword_required"


#: Codes after which the very same request may succeed later.
RETRYABLE = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL})

#: HTTP status for each code when it is answered over the HTTP API.
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_JSON: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNKNOWN_TYPE: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.MUTED: 403,
    ErrorCode.TOO_LONG: 400,
    ErrorCode.EMPTY: 400,
    ErrorCode.DUPLICATE: 409,
    ErrorCode.READ_ONLY: 403,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
    ErrorCode.CONFLICT: 409,
    ErrorCode.SOLD_OUT: 409,
    ErrorCode.LIMIT_REACHED: 409,
    ErrorCode.NOT_STARTED: 409,
    ErrorCode.ENDED: 409,
    ErrorCode.INVALID_QUANTITY: 400,
    ErrorCode.PRIZE_OVER_CAP: 400,
    ErrorCode.CARDS_FULL: 409,
    ErrorCode.ALREADY_GRABBED: 409,
    ErrorCode.ALL_GRABBED: 409,
    ErrorCode.KEYWORD_REQUIRED: 403,
}


class CloseCode(IntEnum):
    """WebSocket close codes the server uses. 4xxx are liveroom's own."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    BAD_REQUEST = 4000
    AUTH_FAILED = 4001
    WRONG_ROOM = 4003
    ORIGIN_NOT_ALLOWED = 4004
    SLOW_CONSUMER = 4008
    TOKEN_EXPIRED = 4011
    ROOM_ENDED = 4010
    FLOOD = 4029
    TOO_MANY_CONNECTIONS = 4030

    @property
    def error_code(self) -> ErrorCode:
        """The code of the ``error`` event sent just before this close code (a refusal)."""
        return CLOSE_ERRORS.get(self, ErrorCode.BAD_REQUEST)


#: The error code a client sees with each close code (see ``CloseCode.error_code``).
CLOSE_ERRORS: dict[CloseCode, ErrorCode] = {
    CloseCode.AUTH_FAILED: ErrorCode.UNAUTHORIZED,
    CloseCode.TOKEN_EXPIRED: ErrorCode.UNAUTHORIZED,
    CloseCode.WRONG_ROOM: ErrorCode.FORBIDDEN,
    CloseCode.ORIGIN_NOT_ALLOWED: ErrorCode.FORBIDDEN,
    CloseCode.TOO_MANY_CONNECTIONS: ErrorCode.RATE_LIMITED,
    CloseCode.SERVICE_RESTART: ErrorCode.UNAVAILABLE,
    CloseCode.ROOM_ENDED: ErrorCode.ENDED,
}


class LiveroomError(Exception):
    """Root of the exceptions liveroom raises on purpose."""


class CommandError(LiveroomError):
    """A command was refused. Sent back as an error reply; the connection lives on."""

    def __init__(self, code: ErrorCode, message: str = "", **details: object) -> None:
        super().__init__(message or code.value)
        self.code = code
        self.message = message or code.value
        self.details = details

    @property
    def retry(self) -> bool:
        return self.code in RETRYABLE

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "code": self.code.value,
            "message": self.message,
            "retry": self.retry,
        }
        body.update(self.details)
        return body


class AuthError(LiveroomError):
    """A token was refused; the connection closes with ``close_code``."""

    def __init__(self, close_code: CloseCode, message: str) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.message = message

    @property
    def error_code(self) -> ErrorCode:
        return self.close_code.error_code


class EngineUnavailable(LiveroomError):
    """The engine's backing store cannot be reached. Never guess an answer: say unavailable."""
