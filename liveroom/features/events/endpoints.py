"""Webhook endpoints: what an operator configures (by environment or the HTTP API), checked.

An endpoint is a URL, a signing secret (``whsec_`` + base64, the Standard Webhooks form), the
rooms it hears (``["*"]``: every room) and the event types it wants (``[]``: all of them).
The secret is kept to sign and never leaves the node: not in logs, not in any answer
(``Endpoint.public``).

Refused with ``bad_endpoint`` (SSRF): a scheme other than http(s), credentials in the URL, and
any address that is link-local (169.254.0.0/16, fe80::/10), a cloud metadata service
(169.254.169.254, 100.100.100.200, fd00:ec2::254, ``metadata.google.internal``, ...),
unspecified or multicast; loopback too when ``feed_allow_loopback`` is off. A host name is
resolved when the endpoint is added, and refused if any address it resolves to is refused.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import re
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from liveroom.errors import CommandError
from liveroom.features.events.errors import FeedCode
from liveroom.protocol import ROOM_ID

#: names of cloud metadata services, refused whatever they resolve to
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata", "metadata.azure.com", "instance-data"}
)
#: metadata addresses outside the link-local ranges
METADATA_IPS = frozenset(
    ipaddress.ip_address(a) for a in ("100.100.100.200", "fd00:ec2::254", "192.0.0.192")
)
EVENT_TYPE = re.compile(r"\A[a-z_]+\.[a-z_]+\Z")
MAX_URL = 2048


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One webhook receiver. ``created`` (seconds) is where its deliveries start: events
    appended before it existed are not sent to it."""

    id: str
    url: str
    secret: str = field(repr=False)
    rooms: tuple[str, ...] = ("*",)
    types: tuple[str, ...] = ()
    created: float = 0.0
    source: str = "api"  # api | env

    def hears(self, room: str) -> bool:
        return "*" in self.rooms or room in self.rooms

    def wants(self, etype: str) -> bool:
        return not self.types or etype in self.types

    def public(self) -> dict[str, Any]:
        """What the API shows: everything but the secret."""
        return {
            "id": self.id,
            "url": self.url,
            "rooms": list(self.rooms),
            "types": list(self.types),
            "created": self.created,
            "source": self.source,
        }

    def stored(self) -> bytes:
        return orjson.dumps({**self.public(), "secret": self.secret})

    @classmethod
    def load(cls, raw: bytes | str) -> Endpoint:
        d = orjson.loads(raw)
        return cls(
            d["id"],
            d["url"],
            d["secret"],
            tuple(d["rooms"]),
            tuple(d["types"]),
            float(d["created"]),
            d.get("source", "api"),
        )


def refuse(message: str) -> CommandError:
    return CommandError(FeedCode.BAD_ENDPOINT, message)


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret. Raises ``CommandError``."""
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise refuse("secret must look like whsec_<base64 of 24 to 64 random bytes>")
    try:
        key = base64.b64decode(secret[6:], validate=True)
    except (binascii.Error, ValueError):
        raise refuse("secret is not whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise refuse("secret must hold 24 to 64 bytes")
    return key


def new_secret() -> str:
    """A fresh secret in the Standard Webhooks form (for operators and tests)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def refused_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, loopback: bool) -> str:
    """Why ``ip`` may not receive webhooks, or "" when it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_IPS:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "link-local (metadata services live there)"
    if ip.is_loopback:  # before "reserved": ::1 is in IPv6's reserved ::/8
        return "" if loopback else "loopback, and feed_allow_loopback is off"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "not a unicast address"
    return ""


def check_url(url: Any, loopback: bool) -> tuple[str, str]:
    """``(url, host)`` when ``url`` is an acceptable webhook URL as written (before resolving
    its host). Raises ``CommandError`` (``bad_endpoint``)."""
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL:
        raise refuse(f"url must be a string of 1 to {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refuse("url is malformed") from None
    if parts.scheme not in ("http", "https"):
        raise refuse("url must be http or https")
    if parts.username or parts.password:
        raise refuse("url must not carry credentials")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise refuse("url has no host")
    if port == 0:
        raise refuse("url port 0")
    if host in METADATA_HOSTS:
        raise refuse(f"url host {host} is a cloud metadata service")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return url, host
    why = refused_address(ip, loopback)
    if why:
        raise refuse(f"url host {host} is {why}")
    return url, host


async def check_host(host: str, loopback: bool) -> None:
    """Resolve ``host`` and refuse it if any address it names is refused. A name that does not
    resolve now (or not within two seconds) is accepted: deliveries to it retry."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM), 2.0
        )
    except (OSError, TimeoutError):
        return
    except (UnicodeError, ValueError):  # a name the IDNA codec refuses: an empty label, say
        raise refuse(f"url host {host!r} is not a valid host name") from None
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        why = refused_address(ip, loopback)
        if why:
            raise refuse(f"url host {host} resolves to {ip}, {why}")


def check_rooms(rooms: Any) -> tuple[str, ...]:
    if rooms is None:
        return ("*",)
    if not isinstance(rooms, list) or not rooms or len(rooms) > 1000:
        raise refuse('rooms must be a list of 1 to 1000 room ids, or ["*"] for every room')
    for room in rooms:
        if room != "*" and (not isinstance(room, str) or not ROOM_ID.fullmatch(room)):
            raise refuse(f"rooms: {room!r} is not a room id")
    return tuple(dict.fromkeys(rooms))


def check_types(types: Any) -> tuple[str, ...]:
    if types is None:
        return ()
    if not isinstance(types, list) or len(types) > 100:
        raise refuse("types must be a list of event types (empty: every type)")
    for etype in types:
        if not isinstance(etype, str) or not EVENT_TYPE.fullmatch(etype):
            raise refuse(f"types: {etype!r} is not an event type like order.paid")
    return tuple(dict.fromkeys(types))


def endpoint_from(
    body: dict[str, Any], *, id: str, created: float, loopback: bool, source: str = "api"
) -> Endpoint:
    """An ``Endpoint`` from an API body or an environment entry; every field checked (the
    host's addresses are checked by ``check_host``). Raises ``CommandError``."""
    unknown = set(body) - {"url", "secret", "rooms", "types"}
    if unknown:
        raise refuse(f"unknown fields: {', '.join(sorted(unknown))}")
    url, _ = check_url(body.get("url"), loopback)
    secret = body.get("secret")
    if not isinstance(secret, str):
        raise refuse("secret must look like whsec_<base64 of 24 to 64 random bytes>")
    secret_key(secret)
    return Endpoint(
        id,
        url,
        secret,
        check_rooms(body.get("rooms")),
        check_types(body.get("types")),
        created,
        source,
    )


def env_secrets(raw: str) -> list[str]:
    """The secrets in ``feed_endpoints``, for the log filter to remove wherever they appear
    (whatever else is wrong with the setting)."""
    try:
        items = orjson.loads(raw) if raw.strip() else []
    except orjson.JSONDecodeError:
        return []
    if not isinstance(items, list):
        return []
    return [i["secret"] for i in items if isinstance(i, dict) and isinstance(i.get("secret"), str)]


def from_env(raw: str, loopback: bool) -> list[Endpoint]:
    """The endpoints of ``feed_endpoints`` (a JSON list), ids ``env-1``, ``env-2``, ... A bad
    entry stops the node at start, with the reason (never the secret)."""
    if not raw.strip():
        return []
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("feed_endpoints is not valid JSON") from None
    if not isinstance(items, list):
        raise ValueError("feed_endpoints must be a JSON list of endpoints")
    out = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ValueError(f"feed_endpoints[{n - 1}] is not an object")
        try:
            out.append(
                endpoint_from(item, id=f"env-{n}", created=0.0, loopback=loopback, source="env")
            )
        except CommandError as exc:
            raise ValueError(f"feed_endpoints[{n - 1}]: {exc.message}") from None
    return out
