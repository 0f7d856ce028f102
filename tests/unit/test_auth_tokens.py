"""Access tokens: claims, the kid header, key rotation, and every way a token is refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from auth.tokens import (
    AUDIENCE,
    ISSUER,
    InvalidAccessToken,
    bearer_token,
    issue_access_token,
    key_id,
    verify_access_token,
)

KEY_A = "a" * 40
KEY_B = "b" * 40
USER_ID = "665f1c2e8a1b2c3d4e5f6a7b"


def _b64(data: Mapping[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(**overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": USER_ID,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": "j1",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _signed(claims: dict[str, object], *, key: str = KEY_A, kid: str | None = None) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid or key_id(key)})


def test_issued_token_carries_every_claim_and_the_kid_of_the_first_key() -> None:
    now = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    issued = issue_access_token(USER_ID, keys=[KEY_A, KEY_B], ttl_seconds=900, tier="pro", now=now)

    header = jwt.get_unverified_header(issued.token)
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert header == {"alg": "HS256", "typ": "JWT", "kid": key_id(KEY_A)}
    assert set(claims) == {"iss", "aud", "sub", "iat", "exp", "jti", "tier"}
    assert claims["tier"] == "pro"
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, AUDIENCE, USER_ID)
    assert claims["exp"] - claims["iat"] == 900
    assert issued.expires_at == datetime(2030, 1, 2, 3, 19, 5, tzinfo=UTC)


def test_every_token_gets_its_own_jti() -> None:
    first = issue_access_token(USER_ID, keys=[KEY_A], ttl_seconds=60)
    second = issue_access_token(USER_ID, keys=[KEY_A], ttl_seconds=60)
    assert verify_access_token(first.token, keys=[KEY_A]).token_id != (
        verify_access_token(second.token, keys=[KEY_A]).token_id
    )


def test_round_trip() -> None:
    issued = issue_access_token(USER_ID, keys=[KEY_A], ttl_seconds=60)
    claims = verify_access_token(issued.token, keys=[KEY_A])
    assert claims.user_id == USER_ID
    assert claims.expires_at == issued.expires_at


def test_key_rotation_keeps_old_tokens_valid() -> None:
    signed_by_a = issue_access_token(USER_ID, keys=[KEY_A], ttl_seconds=60).token
    # The new key signs; the old one still verifies what it signed.
    assert verify_access_token(signed_by_a, keys=[KEY_B, KEY_A]).user_id == USER_ID
    signed_by_b = issue_access_token(USER_ID, keys=[KEY_B, KEY_A], ttl_seconds=60).token
    assert jwt.get_unverified_header(signed_by_b)["kid"] == key_id(KEY_B)
    assert verify_access_token(signed_by_b, keys=[KEY_B, KEY_A]).user_id == USER_ID


def test_a_retired_key_no_longer_verifies() -> None:
    signed_by_a = issue_access_token(USER_ID, keys=[KEY_A], ttl_seconds=60).token
    with pytest.raises(InvalidAccessToken, match="unknown key"):
        verify_access_token(signed_by_a, keys=[KEY_B])


def test_unknown_kid_is_refused() -> None:
    with pytest.raises(InvalidAccessToken, match="unknown key"):
        verify_access_token(_signed(_claims(), kid="not-a-key"), keys=[KEY_A])


def test_missing_kid_is_refused() -> None:
    token = jwt.encode(_claims(), KEY_A, algorithm="HS256")
    with pytest.raises(InvalidAccessToken, match="unknown key"):
        verify_access_token(token, keys=[KEY_A])


def test_known_kid_with_a_forged_signature_is_refused() -> None:
    forged = _signed(_claims(), key="f" * 40, kid=key_id(KEY_A))
    with pytest.raises(InvalidAccessToken, match="invalid"):
        verify_access_token(forged, keys=[KEY_A])


def test_alg_none_is_refused() -> None:
    header = {"alg": "none", "typ": "JWT", "kid": key_id(KEY_A)}
    claims = {**_claims(), "iat": 0, "exp": 4_102_444_800}
    unsigned = f"{_b64(header)}.{_b64(claims)}."
    with pytest.raises(InvalidAccessToken):
        verify_access_token(unsigned, keys=[KEY_A])


def test_other_hmac_algorithms_are_refused() -> None:
    long_key = "c" * 64  # HS512 wants 64 bytes
    token = jwt.encode(_claims(), long_key, algorithm="HS512", headers={"kid": key_id(long_key)})
    with pytest.raises(InvalidAccessToken):
        verify_access_token(token, keys=[long_key])


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"exp": datetime.now(UTC) - timedelta(minutes=1)},
        {"jti": None},
        {"sub": None},
        {"iat": None},
        {"aud": None},
    ],
    ids=["aud", "iss", "expired", "no-jti", "no-sub", "no-iat", "no-aud"],
)
def test_bad_claims_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidAccessToken):
        verify_access_token(_signed(_claims(**overrides)), keys=[KEY_A])


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "x" * 500])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidAccessToken):
        verify_access_token(garbage, keys=[KEY_A])


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        ("BEARER abc", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer   ", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_a_token_without_a_tier_claim_pays_as_a_user() -> None:
    token = _signed(_claims())
    assert verify_access_token(token, keys=[KEY_A]).tier == "user"
