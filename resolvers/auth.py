"""Accounts and sessions: register, login, refreshToken, logout, logoutAll, changePassword."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from beanie import PydanticObjectId

from auth.credentials import CredentialRuleError, check_email, check_name, check_password
from auth.passwords import hash_password, needs_rehash, verify_password
from auth.refresh import (
    InvalidRefreshTokenError,
    revoke_every_family,
    revoke_token_family,
    rotate,
    start_family,
)
from auth.throttle import LoginAttempt, LoginThrottle, LoginThrottledError
from auth.tokens import issue_access_token
from models.user import (
    EmailTakenError,
    UserDocument,
    create_user,
    find_user,
    find_user_by_email,
    set_password_hash,
    upgrade_password_hash,
)
from schema.auth import AuthPayload, ChangePasswordInput, LoginInput, RegisterInput
from schema.context import Context, Info
from schema.errors import TaskqlError, bad_input, throttled, unauthenticated
from schema.user import User

log = logging.getLogger("taskql.auth")

BAD_CREDENTIALS = "The email or password is incorrect."
REFRESH_REFUSED = "The refresh token is invalid, expired or revoked: sign in again."


async def register(info: Info, input: RegisterInput) -> AuthPayload:
    email = _checked(check_email, input.email, field="email")
    password = _checked(check_password, input.password, field="password")
    name = _checked(check_name, input.name, field="name")
    # Registering reveals a taken email by design (CONFLICT): checking first only spares
    # the hash; the unique index still decides a race.
    if await find_user_by_email(email) is not None:
        raise _email_taken()
    password_hash = await hash_password(password)
    now = _now()
    try:
        user = await create_user(email, password_hash=password_hash, name=name, at=now)
    except EmailTakenError:
        raise _email_taken() from None
    return await _signed_in(info, user=user, now=now)


async def login(info: Info, input: LoginInput) -> AuthPayload:
    email = _checked(check_email, input.email, field="email")
    throttle = _login_throttle(info.context)
    attempt = await _begin_attempt(throttle, email=email, context=info.context)
    try:
        user = await find_user_by_email(email)
        # An unknown email is checked against a dummy hash: the same time as a wrong password.
        matches = await verify_password(user.password_hash if user else None, input.password)
    except Exception:
        await throttle.abandon(attempt)
        raise
    if user is None or not matches:
        raise TaskqlError("INVALID_CREDENTIALS", BAD_CREDENTIALS)
    await throttle.succeeded(attempt)
    if needs_rehash(user.password_hash):
        new_hash = await hash_password(input.password)
        await upgrade_password_hash(
            _id(user), password_hash=new_hash, expected_hash=user.password_hash
        )
    return await _signed_in(info, user=user, now=_now())


async def refresh_token(info: Info, refresh_token: str) -> AuthPayload:
    now = _now()
    settings = info.context.settings
    try:
        issued = await rotate(refresh_token, ttl_seconds=settings.jwt_refresh_ttl, now=now)
    except InvalidRefreshTokenError as error:
        # One message for every reason: a thief learns nothing from it.
        log.info("refresh refused: %s", error, extra={"request_id": info.context.request_id})
        raise unauthenticated(REFRESH_REFUSED) from None
    user = await find_user(issued.user_id)
    if user is None:
        raise unauthenticated(REFRESH_REFUSED)
    return _payload(info, user=user, refresh=issued.token, now=now)


async def logout(info: Info, refresh_token: str) -> bool:
    """True once the token's family is revoked (also when it already was: a retried logout
    succeeds); UNAUTHENTICATED for a token this server never issued or that expired unused,
    so a client holding a corrupted token learns that it did not sign anything out."""
    try:
        await revoke_token_family(refresh_token, now=_now())
    except InvalidRefreshTokenError:
        raise unauthenticated(REFRESH_REFUSED) from None
    return True


async def logout_all(info: Info) -> bool:
    viewer_id = info.context.require_viewer()
    await revoke_every_family(viewer_id, now=_now())
    return True


async def change_password(info: Info, input: ChangePasswordInput) -> AuthPayload:
    viewer_id = info.context.require_viewer()
    new_password = _checked(check_password, input.new_password, field="newPassword")
    user = await find_user(viewer_id)
    if user is None:
        raise unauthenticated("The signed-in user no longer exists.")
    # A stolen access token must not buy unlimited guesses at the password it would need to
    # take the account over: wrong current passwords count as failed logins.
    throttle = _login_throttle(info.context)
    attempt = await _begin_attempt(throttle, email=user.email, context=info.context)
    try:
        matches = await verify_password(user.password_hash, input.current_password)
    except Exception:
        await throttle.abandon(attempt)
        raise
    if not matches:
        raise TaskqlError("INVALID_CREDENTIALS", "The current password is incorrect.")
    await throttle.succeeded(attempt)
    new_hash = await hash_password(new_password)
    now = _now()
    changed = await set_password_hash(
        _id(user), password_hash=new_hash, expected_hash=user.password_hash, at=now
    )
    if not changed:
        # A concurrent change won: the password just checked is no longer the current one.
        raise TaskqlError("INVALID_CREDENTIALS", "The current password is incorrect.")
    await revoke_every_family(_id(user), now=now)
    return await _signed_in(info, user=user, now=now)


async def _signed_in(info: Info, *, user: UserDocument, now: datetime) -> AuthPayload:
    """A new session: a fresh refresh-token family and an access token."""
    family = await start_family(
        _id(user), ttl_seconds=info.context.settings.jwt_refresh_ttl, now=now
    )
    return _payload(info, user=user, refresh=family.token, now=now)


def _payload(info: Info, *, user: UserDocument, refresh: str, now: datetime) -> AuthPayload:
    settings = info.context.settings
    access = issue_access_token(
        str(_id(user)),
        keys=settings.jwt_secret,
        ttl_seconds=settings.jwt_access_ttl,
        tier=user.tier,
        now=now,
    )
    return AuthPayload(
        access_token=access.token,
        refresh_token=refresh,
        expires_at=access.expires_at,
        user=User.from_document(user, shown_to_self=True),
    )


async def _begin_attempt(throttle: LoginThrottle, *, email: str, context: Context) -> LoginAttempt:
    try:
        return await throttle.begin(email=email, address=context.client_address)
    except LoginThrottledError as error:
        raise throttled(
            f"Too many failed sign-ins: try again in {error.retry_after} seconds.",
            retry_after=error.retry_after,
        ) from None


def _login_throttle(context: Context) -> LoginThrottle:
    return LoginThrottle(context.redis, fallback=context.login_fallback)


def _checked(check: Callable[..., str], raw: str, *, field: str) -> str:
    try:
        return check(raw, field=field)
    except CredentialRuleError as error:
        raise bad_input(error.field, error.message) from None


def _email_taken() -> TaskqlError:
    return TaskqlError("CONFLICT", "An account with this email already exists.", field="email")


def _id(user: UserDocument) -> PydanticObjectId:
    assert user.id is not None, "a stored user has an id"
    return user.id


def _now() -> datetime:
    # MongoDB keeps milliseconds: what is returned must equal what a later read returns.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
