"""What the client raises: one root, the server's refusals by HTTP status, and network trouble.

Exception tree::

    LiveroomClientError        root: code, message, retry, status, details
    ├── NetworkError           no answer: the server could not be reached, or stopped answering
    ├── UnexpectedResponse     an answer that is not liveroom's (a proxy's page, a wrong base URL)
    └── ApiError               the server refused the call with its JSON error body
        ├── BadRequest         400  bad_json, bad_request, too_long, empty, invalid_quantity, ...
        ├── Unauthorized       401  unauthorized: API key or token missing, wrong or expired
        ├── Forbidden          403  forbidden, read_only, muted, keyword_required,
        │                           not_eligible, not_yours
        ├── NotFound           404  not_found: no such room object (sale, order, bag, ...), no_group
        ├── Conflict           409  conflict, duplicate, sold_out, limit_reached, not_started,
        │                           ended, cards_full, already_grabbed, all_grabbed,
        │                           coupon_gone, already_claimed, claim_closed, coupon_used,
        │                           coupon_expired, not_applicable, deal_sold_out, group_full,
        │                           group_not_open, ...
        ├── RateLimited        429  rate_limited
        ├── ServerError        500  internal
        └── Unavailable        503  unavailable: Redis unreachable, nothing was done

``ApiError.code`` is the server's code (a member of one of ``CODES`` when this version knows
it: the core's ``ErrorCode`` or a feature's, such as ``SaleCode``; else the string), so
``except Conflict as exc: if exc.code == SaleCode.SOLD_OUT`` tells a sold-out sale from a closed
one. ``retry`` is the server's own word on whether the very same call may succeed
later. The codes are documented in ``docs/protocol.md`` and ``docs/http.md``.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from liveroom.errors import Code, CouponCode, ErrorCode
from liveroom.features.cards.errors import CardCode
from liveroom.features.comments.errors import CommentCode
from liveroom.features.coupons.errors import ClaimCode
from liveroom.features.events.errors import FeedCode
from liveroom.features.flashsale.errors import SaleCode
from liveroom.features.groupbuy.errors import GroupCode
from liveroom.features.luckybag.errors import BagCode
from liveroom.features.private.errors import PrivateCode
from liveroom.features.redpacket.errors import PacketCode

#: The server's code enums this version knows: the core's and each feature's.
CODES: tuple[type[Code], ...] = (
    ErrorCode,
    CommentCode,
    SaleCode,
    GroupCode,
    CardCode,
    BagCode,
    PacketCode,
    ClaimCode,
    CouponCode,
    FeedCode,
    PrivateCode,
)

#: Codes the client gives its own exceptions; a server never sends them.
NETWORK = "network"
BAD_RESPONSE = "bad_response"


class LiveroomClientError(Exception):
    """Root of everything ``liveroom.client`` raises on purpose.

    ``code``: the server's error code, or ``NETWORK`` / ``BAD_RESPONSE``. ``message``: for
    logs, not for matching. ``retry``: whether the same call may succeed later. ``status``: the
    HTTP status, ``None`` when no answer came. ``details``: the error body's other fields (for
    example ``sale`` and ``request_id`` on a refused buy, ``amount`` on ``already_grabbed``).
    """

    def __init__(
        self,
        code: Code | str,
        message: str,
        *,
        retry: bool = False,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry = retry
        self.status = status
        self.details = details or {}

    def __str__(self) -> str:
        where = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.code}: {self.message}{where}"


class NetworkError(LiveroomClientError):
    """The call got no answer: connection refused or reset, DNS, TLS, or a timeout.

    ``may_have_run`` is False only when the request never left (no connection could be made);
    after a read timeout or a dropped connection the server may have done the work. Repeat such
    a call only if it is safe to: a buy with the same ``request_id`` is (the server answers what
    it answered the first time); creating a sale without an ``id`` is not.
    """

    def __init__(self, message: str, *, may_have_run: bool) -> None:
        super().__init__(NETWORK, message, retry=True)
        self.may_have_run = may_have_run


class UnexpectedResponse(LiveroomClientError):
    """An answer that is not liveroom's JSON: a load balancer's error page, a path the server
    does not have (check the base URL, and the mount prefix when liveroom is embedded), or a
    body that is not JSON. ``details["body"]`` holds its first 500 characters."""


class ApiError(LiveroomClientError):
    """The server refused the call; nothing was changed unless the code's docs say otherwise."""


class BadRequest(ApiError):
    """400: the request was malformed or a value was out of range; fix it, do not retry."""


class Unauthorized(ApiError):
    """401: the API key or token is missing, wrong, forged or expired."""


class Forbidden(ApiError):
    """403: the credential is valid but may not do this (role, room, muted, keyword, read-only)."""


class NotFound(ApiError):
    """404: no such sale, order, bag, red packet or pinned card in this room."""


class Conflict(ApiError):
    """409: the object's state refuses the call: sold out, ended, already taken, id in use."""


class RateLimited(ApiError):
    """429: too many calls; the same call may succeed after a pause."""


class ServerError(ApiError):
    """500: the server failed unexpectedly; the same call may succeed later."""


class Unavailable(ApiError):
    """503: shared state (Redis) unreachable; nothing was done, and the same call may succeed."""


#: httpx errors raised before any byte of the request left.
NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)

_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
    500: ServerError,
    503: Unavailable,
}


def _code(value: str) -> Code | str:
    for codes in CODES:
        try:
            return codes(value)
        except ValueError:
            pass
    return value  # a code from a newer server: kept as it came


def from_response(response: httpx.Response) -> LiveroomClientError:
    """The exception for a non-2xx answer: an ``ApiError`` subclass for liveroom's JSON error
    body (picked by its code's HTTP status, or the answer's for a code this version does not
    know), ``UnexpectedResponse`` for anything else."""
    try:
        body = orjson.loads(response.content)
        error = body["error"]
        raw_code = error["code"]
        if not isinstance(raw_code, str):
            raise TypeError("code is not a string")
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return unexpected(response, "not a liveroom error body")
    code = _code(raw_code)
    status = response.status_code
    if isinstance(code, Code):
        status = code.status
    kind = _BY_STATUS.get(status, ApiError)
    retry = error.get("retry")
    if not isinstance(retry, bool):
        retry = isinstance(code, Code) and code.retry
    details = {k: v for k, v in error.items() if k not in ("code", "message", "retry")}
    message = error.get("message")
    return kind(
        code,
        message if isinstance(message, str) else str(code),
        retry=retry,
        status=response.status_code,
        details=details,
    )


def unexpected(response: httpx.Response, why: str) -> UnexpectedResponse:
    """An ``UnexpectedResponse`` for ``response``; a 5xx from something in between may pass."""
    return UnexpectedResponse(
        BAD_RESPONSE,
        f"{why}: {response.request.method} {response.request.url.path} "
        f"answered {response.status_code}",
        retry=response.status_code in (502, 503, 504),
        status=response.status_code,
        details={"body": response.text[:500]},
    )


def from_transport(exc: httpx.TransportError) -> NetworkError:
    """A ``NetworkError`` for httpx's ``exc``; ``may_have_run`` unless no connection was made."""
    never_sent = isinstance(exc, NEVER_SENT)
    what = type(exc).__name__
    return NetworkError(f"{what}: {exc}" if str(exc) else what, may_have_run=not never_sent)
