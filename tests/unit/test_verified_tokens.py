"""Verified access tokens kept until expiry: the same answers as verifying afresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auth.tokens import InvalidAccessToken, issue_access_token
from auth.verified_tokens import VerifiedTokens

KEY_A = "a" * 40
KEY_B = "b" * 40
USER_ID = "65f000000000000000000001"


def test_a_kept_token_answers_like_a_fresh_check_until_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = VerifiedTokens()
    issued = issue_access_token(USER_ID, keys=[KEY_A], ttl_seconds=60)
    first = tokens.claims(issued.token, keys=(KEY_A,))
    assert tokens.claims(issued.token, keys=(KEY_A,)) is first  # kept
    assert first.user_id == USER_ID

    later = issued.expires_at.timestamp()
    monkeypatch.setattr("auth.verified_tokens.time.time", lambda: later)
    with pytest.raises(InvalidAccessToken, match="expired"):
        tokens.claims(issued.token, keys=(KEY_A,))
    assert len(tokens) == 0


def test_other_keys_verify_again_and_failures_are_never_kept() -> None:
    tokens = VerifiedTokens()
    issued = issue_access_token(USER_ID, keys=[KEY_A], ttl_seconds=60)
    tokens.claims(issued.token, keys=(KEY_A,))
    with pytest.raises(InvalidAccessToken, match="unknown key"):
        tokens.claims(issued.token, keys=(KEY_B,))
    expired = issue_access_token(
        USER_ID, keys=[KEY_A], ttl_seconds=60, now=datetime.now(UTC) - timedelta(hours=1)
    )
    for _ in range(2):
        with pytest.raises(InvalidAccessToken, match="expired"):
            tokens.claims(expired.token, keys=(KEY_A,))
    with pytest.raises(InvalidAccessToken, match="malformed"):
        tokens.claims("not-a-token", keys=(KEY_A,))
    assert len(tokens) == 1


def test_the_least_recently_used_token_leaves_first() -> None:
    tokens = VerifiedTokens(capacity=2)
    a, b, c = (issue_access_token(USER_ID, keys=[KEY_A], ttl_seconds=60) for _ in range(3))
    kept_a = tokens.claims(a.token, keys=(KEY_A,))
    tokens.claims(b.token, keys=(KEY_A,))
    assert tokens.claims(a.token, keys=(KEY_A,)) is kept_a
    tokens.claims(c.token, keys=(KEY_A,))
    assert len(tokens) == 2
    assert tokens.claims(a.token, keys=(KEY_A,)) is kept_a  # b left, not a
