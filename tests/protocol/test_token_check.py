"""The quick token check (``auth._plain_claims``) accepts only what PyJWT accepts, with the
same claims, and leaves every other token to PyJWT."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import jwt
import orjson
import pytest

from liveroom import auth
from liveroom.errors import AuthError

SECRET = "quick-check-secret-0123456789abcdef"
KEY = auth._hmac_key(SECRET)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(header: dict[str, object], claims: dict[str, object], secret: str = SECRET) -> str:
    """A token with exactly this header and these claims, signed with HS256."""
    head_body = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}"
    signature = hmac.digest(secret.encode(), head_body.encode(), hashlib.sha256)
    return f"{head_body}.{_b64(signature)}"


def _pyjwt(token: str) -> dict[str, object] | None:
    try:
        return jwt.decode(token, SECRET, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    except jwt.PyJWTError:
        return None


PLAIN = {"alg": "HS256", "typ": "JWT"}


def _claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "alice",
        "name": "Alice",
        "role": "viewer",
        "iat": now,
        "exp": now + 600,
        "room": "r1",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_minted_token_takes_the_quick_check_with_pyjwts_claims() -> None:
    """A token of ``mint`` (traits too) passes the quick check, with the claims PyJWT reads."""
    token = auth.mint(SECRET, "alice", room="r1", traits={"region": "north", "follower": True})
    assert KEY is not None
    quick = auth._plain_claims(KEY, token)
    assert quick is not None
    assert quick == _pyjwt(token)


def _odd_tokens() -> dict[str, str]:
    """Tokens the quick check must leave to PyJWT, whatever PyJWT then says."""
    now = int(time.time())
    good = auth.mint(SECRET, "alice", room="r1")
    head, body, sig = good.split(".")
    flipped = sig[:-1] + ("B" if sig[-1] == "A" else "A")  # another signature
    # the same signature bytes, base64url with other unused bits: PyJWT refuses it
    last = sig[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    odd_bits = sig[:-1] + alphabet[alphabet.index(last) | 1]
    return {
        "expired": _signed(PLAIN, _claims(iat=now - 700, exp=now - 100)),
        "issued in the future": _signed(PLAIN, _claims(iat=now + 300)),
        "forged": _signed(PLAIN, _claims(), secret="another-secret-0123456789abcdef"),
        "alg none": f"{_b64(orjson.dumps({'alg': 'none', 'typ': 'JWT'}))}.{body}.",
        "a kid in the header": _signed({**PLAIN, "kid": "k1"}, _claims()),
        "no typ": _signed({"alg": "HS256"}, _claims()),
        "an audience": _signed(PLAIN, _claims(aud="shop")),
        "not before later": _signed(PLAIN, _claims(nbf=now + 300)),
        "float exp": _signed(PLAIN, _claims(exp=now + 600.5)),
        "string exp": _signed(PLAIN, _claims(exp=str(now + 600))),
        "no exp": _signed(PLAIN, _claims(exp=None)),
        "no sub": _signed(PLAIN, _claims(sub=None)),
        "numeric sub": _signed(PLAIN, _claims(sub=42)),
        "other signature": f"{head}.{body}.{flipped}",
        "other unused bits": f"{head}.{body}.{odd_bits}",
        "padded": f"{head}.{body}.{sig}=",
        "four parts": f"{good}.{sig}",
        "not a token": "not.a.token",
    }


@pytest.mark.parametrize("name", sorted(_odd_tokens()))
def test_a_token_off_the_plain_shape_is_left_to_pyjwt(name: str) -> None:
    """Off the plain shape (or refused), the quick check answers None; ``verify`` then takes
    PyJWT's word, and accepts exactly what PyJWT accepts."""
    token = _odd_tokens()[name]
    assert KEY is not None
    quick = auth._plain_claims(KEY, token)
    assert quick is None or quick == _pyjwt(token)
    accepted = _pyjwt(token) is not None
    try:
        auth.verify(SECRET, token)
    except AuthError:
        assert not accepted, f"{name}: PyJWT accepts it, verify refused it"
    else:
        assert accepted, f"{name}: PyJWT refuses it, verify accepted it"


def test_an_expired_token_still_says_expired() -> None:
    """Refusals come from PyJWT: an expired plain token is refused as expired (4011)."""
    now = int(time.time())
    token = _signed(PLAIN, _claims(iat=now - 700, exp=now - 100))
    with pytest.raises(AuthError) as refused:
        auth.verify(SECRET, token)
    assert refused.value.close_code == 4011


def test_a_secret_pyjwt_refuses_as_a_key_takes_no_quick_check() -> None:
    """A secret shaped like an asymmetric key is no HMAC key to PyJWT: no quick check either."""
    assert auth._hmac_key("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----") is None
