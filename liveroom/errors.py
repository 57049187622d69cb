"""Every code a client can see, and the one exception root.

Exception tree::

    LiveroomError            base of everything liveroom raises on purpose
    ├── CommandError         a command was refused; carries a Code, goes back as a reply
    ├── AuthError            a token was refused; carries the CloseCode to close with
    └── EngineUnavailable    the shared state (Redis) cannot be reached right now

The codes are documented in ``docs/protocol.md``; ``tests/protocol/test_docs.py`` keeps the
two in step. Features declare their own ``Code`` enums beside their code; ``CouponCode`` is
here because every feature that takes an order answers with it.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Code(StrEnum):
    """Base of every error code enum: the core's ``ErrorCode`` and each feature's own.

    A member is ``NAME = "wire_value", http_status`` or ``NAME = "wire_value", http_status,
    True`` when the very same request may succeed later (``retry`` in the error body). Members
    compare equal to their wire value, so a client may test ``code == "sold_out"``.
    """

    status: int
    retry: bool

    def __new__(cls, value: str, status: int = 400, retry: bool = False) -> Code:
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.retry = retry
        return member


class ErrorCode(Code):
    """Codes in error replies (WebSocket) and error bodies (HTTP)."""

    BAD_JSON = "bad_json", 400
    BAD_REQUEST = "bad_request", 400
    UNKNOWN_TYPE = "unknown_type", 400
    UNAUTHORIZED = "unauthorized", 401
    FORBIDDEN = "forbidden", 403
    NOT_FOUND = "not_found", 404
    RATE_LIMITED = "rate_limited", 429, True
    TOO_LONG = "too_long", 400
    READ_ONLY = "read_only", 403
    UNAVAILABLE = "unavailable", 503, True
    INTERNAL = "internal", 500, True
    CONFLICT = "conflict", 409
    # outside a window or over a limit: flash sales, lucky bags, red packets
    LIMIT_REACHED = "limit_reached", 409
    NOT_STARTED = "not_started", 409
    ENDED = "ended", 409


class CouponCode(Code):
    """Refusals of an order because of its coupon, whichever feature takes the order (the
    engine's coupon seam, ``liveroom/engine/coupons.py``, answers them). The coupons feature
    lists them among its codes (``docs/coupons.md``)."""

    COUPON_USED = "coupon_used", 409
    COUPON_EXPIRED = "coupon_expired", 409
    NOT_APPLICABLE = "not_applicable", 409
    NOT_YOURS = "not_yours", 403


class CloseCode(IntEnum):
    """WebSocket close codes the server uses. 4xxx are liveroom's own."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_REQUEST = 4000
    AUTH_FAILED = 4001
    PING_TIMEOUT = 4002
    WRONG_ROOM = 4003
    ORIGIN_NOT_ALLOWED = 4004
    SLOW_CONSUMER = 4008
    TOKEN_EXPIRED = 4011
    ROOM_ENDED = 4010
    FLOOD = 4029
    TOO_MANY_CONNECTIONS = 4030
    KICKED = 4031

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
    CloseCode.TRY_AGAIN_LATER: ErrorCode.RATE_LIMITED,
    CloseCode.KICKED: ErrorCode.FORBIDDEN,
}


class LiveroomError(Exception):
    """Root of the exceptions liveroom raises on purpose."""


class CommandError(LiveroomError):
    """A command was refused. Sent back as an error reply; the connection lives on."""

    def __init__(self, code: Code, message: str = "", **details: object) -> None:
        super().__init__(message or code.value)
        self.code = code
        self.message = message or code.value
        self.details = details

    @property
    def retry(self) -> bool:
        return self.code.retry

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
