"""Standard Webhooks signatures (https://www.standardwebhooks.com/): what a receiver checks.

The signed content is ``"<webhook-id>.<webhook-timestamp>.<body>"``; the signature is its
HMAC-SHA256 under the secret's key, base64, sent as ``webhook-signature: v1,<signature>``.
``docs/events.md`` shows the receiver's side in Python and Node.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one request."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of one signed request."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, msg_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": "liveroom-feed",
    }
