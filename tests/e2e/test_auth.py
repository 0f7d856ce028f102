"""Authentication through the real server: accounts, sessions, rotation, revocation, throttling.

Every test uses fresh users, and every failed login comes from a client address of its own
(X-Forwarded-For, believed from 127.0.0.1 here), so no test spends another's throttle budget.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from redis.asyncio import Redis

from auth.throttle import address_key, email_key
from auth.tokens import AUDIENCE, ISSUER, key_id
from tests.e2e.api import Api, Response, SignedInUser

pytestmark = pytest.mark.e2e

REGISTER = """
mutation ($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken expiresAt user { id email name createdAt } }
}
"""
LOGIN = """
mutation ($input: LoginInput!) {
  login(input: $input) { accessToken refreshToken expiresAt user { id email } }
}
"""
REFRESH = """
mutation ($token: String!) {
  refreshToken(refreshToken: $token) { accessToken refreshToken expiresAt user { id } }
}
"""
LOGOUT = "mutation ($token: String!) { logout(refreshToken: $token) }"
LOGOUT_ALL = "mutation { logoutAll }"
CHANGE_PASSWORD = """
mutation ($input: ChangePasswordInput!) {
  changePassword(input: $input) { accessToken refreshToken expiresAt user { id } }
}
"""
ME = "{ me { id email name } }"


def _email() -> str:
    return f"auth-{uuid.uuid4().hex[:12]}@example.test"


def _client() -> dict[str, str]:
    """Headers that make the request come from a client address no other test uses."""
    raw = uuid.uuid4().bytes
    return {"X-Forwarded-For": f"10.{raw[0]}.{raw[1]}.{raw[2]}"}


async def _login(
    api: Api, email: str, password: str, *, headers: dict[str, str] | None = None
) -> Response:
    return await api.post(
        LOGIN, {"input": {"email": email, "password": password}}, headers=headers or _client()
    )


async def _refresh(api: Api, token: str) -> Response:
    return await api.post(REFRESH, {"token": token})


def _only_code(reply: Response) -> str:
    assert len(reply.errors) == 1, reply.body
    return reply.codes[0]


def _assert_throttled(reply: Response) -> int:
    assert reply.status == 429, reply.body
    assert reply.codes == ["THROTTLED"], reply.body
    retry_after = reply.errors[0]["extensions"]["retryAfter"]
    assert isinstance(retry_after, int)
    assert 0 < retry_after <= 15 * 60
    assert reply.headers["Retry-After"] == str(retry_after)
    assert "failed sign-ins" in reply.errors[0]["message"]
    return retry_after


async def test_register_signs_in_with_a_normalised_account(api: Api) -> None:
    email = _email()
    reply = await api.post(
        REGISTER,
        {"input": {"email": f"  {email.upper()} ", "password": "p" * 10, "name": "  Ada  "}},
    )
    assert reply.errors == []
    payload = reply.data["register"]
    assert payload["user"]["email"] == email
    assert payload["user"]["name"] == "Ada"
    expires_at = datetime.fromisoformat(payload["expiresAt"])
    expected = datetime.now(UTC) + timedelta(seconds=900)
    assert abs((expires_at - expected).total_seconds()) < 30

    header = jwt.get_unverified_header(payload["accessToken"])
    claims = jwt.decode(payload["accessToken"], options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert header["kid"]
    assert {"iss", "aud", "sub", "iat", "exp", "jti"} <= set(claims)
    assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
    assert datetime.fromtimestamp(claims["exp"], UTC) == expires_at

    me = await api.post(ME, token=payload["accessToken"])
    assert me.data["me"] == {"id": payload["user"]["id"], "email": email, "name": "Ada"}


async def test_login_ignores_email_case_and_spaces(api: Api) -> None:
    user = await api.register()
    reply = await _login(api, f" {user.email.upper()}  ", user.password)
    assert reply.errors == []
    payload = reply.data["login"]
    assert payload["user"] == {"id": user.id, "email": user.email}
    assert payload["refreshToken"] != user.refresh_token
    me = await api.post(ME, token=payload["accessToken"])
    assert me.data["me"]["id"] == user.id


async def test_register_with_a_taken_email_is_a_conflict(api: Api) -> None:
    user = await api.register()
    reply = await api.post(
        REGISTER,
        {"input": {"email": user.email.upper(), "password": "q" * 12, "name": "Other"}},
    )
    assert reply.data is None
    assert _only_code(reply) == "CONFLICT"
    assert reply.errors[0]["extensions"]["field"] == "email"


async def test_concurrent_registrations_of_one_email_create_one_account(api: Api) -> None:
    email = _email()
    variables = {"input": {"email": email, "password": "p" * 12, "name": "Twin"}}
    replies = await asyncio.gather(*(api.post(REGISTER, variables) for _ in range(3)))
    assert sorted(reply.codes[0] if reply.errors else "OK" for reply in replies) == [
        "CONFLICT",
        "CONFLICT",
        "OK",
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "ada@"}, "email"),
        ({"email": "   "}, "email"),
        ({"password": "p" * 9}, "password"),
        ({"password": "p" * 257}, "password"),
        ({"name": "   "}, "name"),
        ({"name": "n" * 101}, "name"),
    ],
)
async def test_register_refuses_bad_input_naming_the_field(
    api: Api, changes: dict[str, str], field: str
) -> None:
    values = {"email": _email(), "password": "p" * 10, "name": "Ada", **changes}
    reply = await api.post(REGISTER, {"input": values})
    assert reply.status == 200
    assert _only_code(reply) == "BAD_USER_INPUT"
    assert reply.errors[0]["extensions"]["field"] == field


async def test_login_errors_do_not_reveal_whether_the_email_exists(api: Api) -> None:
    user = await api.register()
    wrong_password = await _login(api, user.email, "wrong-password")
    unknown_email = await _login(api, _email(), "wrong-password")
    assert wrong_password.data is None
    assert _only_code(wrong_password) == "INVALID_CREDENTIALS"
    assert wrong_password.errors == unknown_email.errors
    assert wrong_password.status == unknown_email.status == 200


async def test_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    user = await api.register()
    first = await _refresh(api, user.refresh_token)
    assert first.errors == []
    pair = first.data["refreshToken"]
    assert pair["refreshToken"] != user.refresh_token
    assert pair["accessToken"] != user.access_token
    assert pair["user"]["id"] == user.id
    assert (await api.post(ME, token=pair["accessToken"])).data["me"]["id"] == user.id

    # Chained rotation keeps working while each token is used once.
    second = await _refresh(api, pair["refreshToken"])
    assert second.errors == []
    newest = second.data["refreshToken"]["refreshToken"]

    # A retired token presented again: refused, and its whole family with it.
    reused = await _refresh(api, user.refresh_token)
    assert reused.data is None
    assert _only_code(reused) == "UNAUTHENTICATED"
    assert _only_code(await _refresh(api, newest)) == "UNAUTHENTICATED"


async def test_concurrent_refreshes_with_one_token_have_one_winner(api: Api) -> None:
    user = await api.register()
    replies = await asyncio.gather(*(_refresh(api, user.refresh_token) for _ in range(5)))
    winners = [reply for reply in replies if not reply.errors]
    assert len(winners) == 1
    assert sorted(reply.codes[0] for reply in replies if reply.errors) == ["UNAUTHENTICATED"] * 4
    # The losers were reuse: the family is revoked, the winner's new refresh token too.
    won = winners[0].data["refreshToken"]["refreshToken"]
    assert _only_code(await _refresh(api, won)) == "UNAUTHENTICATED"


@pytest.mark.parametrize("token", ["", "garbage", "x" * 300])
async def test_unknown_refresh_tokens_are_refused(api: Api, token: str) -> None:
    reply = await _refresh(api, token)
    assert _only_code(reply) == "UNAUTHENTICATED"
    assert _only_code(await api.post(LOGOUT, {"token": token})) == "UNAUTHENTICATED"


async def test_logout_revokes_only_that_family(api: Api) -> None:
    user = await api.register()
    other_device = (await _login(api, user.email, user.password)).data["login"]

    logout = await api.post(LOGOUT, {"token": user.refresh_token})
    assert logout.errors == []
    assert logout.data == {"logout": True}
    assert _only_code(await _refresh(api, user.refresh_token)) == "UNAUTHENTICATED"
    # A retried logout succeeds: the family is revoked either way.
    assert (await api.post(LOGOUT, {"token": user.refresh_token})).data == {"logout": True}
    assert (await _refresh(api, other_device["refreshToken"])).errors == []


async def test_logout_with_a_retired_token_revokes_the_family(api: Api) -> None:
    user = await api.register()
    rotated = (await _refresh(api, user.refresh_token)).data["refreshToken"]["refreshToken"]
    assert (await api.post(LOGOUT, {"token": user.refresh_token})).data == {"logout": True}
    assert _only_code(await _refresh(api, rotated)) == "UNAUTHENTICATED"


async def test_logout_all_revokes_every_device(api: Api) -> None:
    user = await api.register()
    devices = [(await _login(api, user.email, user.password)).data["login"] for _ in range(2)]
    other = await api.register()

    reply = await api.post(LOGOUT_ALL, token=user.access_token)
    assert reply.errors == []
    assert reply.data == {"logoutAll": True}
    for token in (user.refresh_token, *(device["refreshToken"] for device in devices)):
        assert _only_code(await _refresh(api, token)) == "UNAUTHENTICATED"
    # Nobody else is signed out.
    assert (await _refresh(api, other.refresh_token)).errors == []


def _expired_token(api: Api, user: SignedInUser) -> str:
    key = api.server.env["JWT_SECRET"].split(",")[0]
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    past = datetime.now(UTC) - timedelta(hours=1)
    claims.update(iat=past, exp=past + timedelta(minutes=15))
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": key_id(key)})


@pytest.mark.parametrize("token_kind", ["none", "garbage", "expired", "foreign-key"])
async def test_logout_all_needs_a_valid_access_token(api: Api, token_kind: str) -> None:
    user = await api.register()
    tokens: dict[str, Any] = {
        "none": None,
        "garbage": "garbage",
        "expired": _expired_token(api, user),
        "foreign-key": jwt.encode(
            jwt.decode(user.access_token, options={"verify_signature": False}),
            "k" * 48,
            algorithm="HS256",
            headers={"kid": key_id("k" * 48)},
        ),
    }
    reply = await api.post(LOGOUT_ALL, token=tokens[token_kind])
    assert reply.data is None
    assert _only_code(reply) == "UNAUTHENTICATED"
    assert (await _refresh(api, user.refresh_token)).errors == []


async def test_change_password(api: Api) -> None:
    user = await api.register()
    second_device = (await _login(api, user.email, user.password)).data["login"]
    new_password = f"new-{uuid.uuid4().hex}"

    wrong = await api.post(
        CHANGE_PASSWORD,
        {"input": {"currentPassword": "not-the-password", "newPassword": new_password}},
        token=user.access_token,
        headers=_client(),
    )
    assert _only_code(wrong) == "INVALID_CREDENTIALS"
    too_short = await api.post(
        CHANGE_PASSWORD,
        {"input": {"currentPassword": user.password, "newPassword": "short"}},
        token=user.access_token,
    )
    assert _only_code(too_short) == "BAD_USER_INPUT"
    assert too_short.errors[0]["extensions"]["field"] == "newPassword"
    anonymous = await api.post(
        CHANGE_PASSWORD, {"input": {"currentPassword": user.password, "newPassword": new_password}}
    )
    assert _only_code(anonymous) == "UNAUTHENTICATED"

    changed = await api.post(
        CHANGE_PASSWORD,
        {"input": {"currentPassword": user.password, "newPassword": new_password}},
        token=user.access_token,
    )
    assert changed.errors == []
    pair = changed.data["changePassword"]
    assert pair["user"]["id"] == user.id
    assert (await api.post(ME, token=pair["accessToken"])).data["me"]["id"] == user.id

    # Every earlier session is retired; the fresh one works.
    for token in (user.refresh_token, second_device["refreshToken"]):
        assert _only_code(await _refresh(api, token)) == "UNAUTHENTICATED"
    assert (await _refresh(api, pair["refreshToken"])).errors == []
    assert _only_code(await _login(api, user.email, user.password)) == "INVALID_CREDENTIALS"
    assert (await _login(api, user.email, new_password)).errors == []


async def test_five_failures_throttle_the_email_even_for_the_right_password(api: Api) -> None:
    user = await api.register()
    client = _client()
    for _ in range(5):
        reply = await _login(api, user.email, "wrong-password", headers=client)
        assert _only_code(reply) == "INVALID_CREDENTIALS"

    _assert_throttled(await _login(api, user.email, user.password, headers=client))
    # Per email: another address gets the same answer; another email is unaffected.
    _assert_throttled(await _login(api, user.email, user.password))
    other = await api.register()
    assert (await _login(api, other.email, other.password, headers=client)).errors == []


async def test_concurrent_guesses_cannot_outrun_the_email_limit(api: Api) -> None:
    user = await api.register()
    replies = await asyncio.gather(*(_login(api, user.email, "wrong-password") for _ in range(8)))
    codes = sorted(_only_code(reply) for reply in replies)
    assert codes == ["INVALID_CREDENTIALS"] * 5 + ["THROTTLED"] * 3


async def test_a_success_forgives_the_email_failures(api: Api) -> None:
    user = await api.register()
    client = _client()
    for _ in range(4):
        await _login(api, user.email, "wrong-password", headers=client)
    assert (await _login(api, user.email, user.password, headers=client)).errors == []
    for _ in range(5):
        reply = await _login(api, user.email, "wrong-password", headers=client)
        assert _only_code(reply) == "INVALID_CREDENTIALS"
    _assert_throttled(await _login(api, user.email, user.password, headers=client))


async def test_twenty_failures_throttle_the_client_address(api: Api) -> None:
    user = await api.register()
    client = _client()
    # Concurrent, with a different unknown email each: exactly 20 are checked.
    replies = await asyncio.gather(
        *(_login(api, _email(), "wrong-password", headers=client) for _ in range(24))
    )
    codes = sorted(_only_code(reply) for reply in replies)
    assert codes == ["INVALID_CREDENTIALS"] * 20 + ["THROTTLED"] * 4
    for reply in replies:
        if reply.codes == ["THROTTLED"]:
            _assert_throttled(reply)

    _assert_throttled(await _login(api, user.email, user.password, headers=client))
    # Only that address: the same user signs in from elsewhere.
    assert (await _login(api, user.email, user.password)).errors == []


async def test_failures_are_counted_in_redis_with_the_window_as_ttl(
    api: Api, redis_url: str
) -> None:
    user = await api.register()
    client = _client()
    address = client["X-Forwarded-For"]
    await _login(api, user.email, "wrong-password", headers=client)
    redis = Redis.from_url(redis_url)
    try:
        assert await redis.get(email_key(user.email)) == b"1"
        assert await redis.get(address_key(address)) == b"1"
        assert 0 < await redis.ttl(email_key(user.email)) <= 15 * 60
        assert (await _login(api, user.email, user.password, headers=client)).errors == []
        # A success forgives the email's failures; the address keeps its own.
        assert await redis.exists(email_key(user.email)) == 0
        assert await redis.get(address_key(address)) == b"1"
    finally:
        await redis.aclose()
