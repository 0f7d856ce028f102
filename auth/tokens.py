"""Access tokens: HS256 JWTs with iss/aud/sub/iat/exp/jti and a `kid` naming the signing key.

`JWT_SECRET` may list several keys: the first signs, every one verifies, so keys rotate
without signing anyone out.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ISSUER = "taskql"
AUDIENCE = "taskql-api"
ALGORITHMS = ["HS256"]
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti"]
EXPIRED = "The access token has expired: refresh it."


class InvalidAccessToken(Exception):  # noqa: N818 -- transport/context.py imports this name
    """The token is missing, malformed, forged, expired or signed by an unknown key."""


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    token_id: str
    expires_at: datetime
    # The user's query-cost tier when the token was issued: pricing needs no lookup.
    tier: str = "user"


def key_id(secret: str) -> str:
    """A public name for a key: tells verifiers which key signed, reveals nothing of it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def issue_access_token(
    user_id: str,
    *,
    keys: Sequence[str],
    ttl_seconds: int,
    tier: str = "user",
    now: datetime | None = None,
) -> AccessToken:
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    expires = issued + timedelta(seconds=ttl_seconds)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "iat": issued,
        "exp": expires,
        "jti": uuid.uuid4().hex,
        "tier": tier,
    }
    signing_key = keys[0]
    token = jwt.encode(claims, signing_key, algorithm="HS256", headers={"kid": key_id(signing_key)})
    return AccessToken(token=token, expires_at=expires)


def verify_access_token(token: str, *, keys: Sequence[str]) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as error:
        raise InvalidAccessToken("The access token is malformed.") from error
    key = next((k for k in keys if key_id(k) == header.get("kid")), None)
    if key is None:
        raise InvalidAccessToken("The access token was signed by an unknown key.")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidAccessToken(EXPIRED) from error
    except jwt.InvalidTokenError as error:
        raise InvalidAccessToken("The access token is invalid.") from error
    return AccessClaims(
        user_id=str(claims["sub"]),
        token_id=str(claims["jti"]),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        tier=str(claims.get("tier", "user")),
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
