"""AuthPayload and the inputs of the auth mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.user import User


@strawberry.type(
    description="A signed-in session: a short-lived access token and its refresh token."
)
class AuthPayload:
    access_token: str = strawberry.field(
        description="A JWT to send as `Authorization: Bearer <accessToken>`."
    )
    refresh_token: str = strawberry.field(
        description="Single use: refreshing returns a new one and retires this one."
    )
    expires_at: datetime = strawberry.field(description="When the access token expires.")
    user: User = strawberry.field(description="The signed-in user.")


@strawberry.input(description="A new account.")
class RegisterInput:
    email: str = strawberry.field(
        description="Trimmed and lower-cased; must not belong to another user."
    )
    password: str = strawberry.field(description="10 to 256 characters.")
    name: str = strawberry.field(description="The display name: 1 to 100 characters, trimmed.")


@strawberry.input(description="Email and password to sign in with.")
class LoginInput:
    email: str = strawberry.field(description="The account's email (case and spaces ignored).")
    password: str = strawberry.field(description="The account's password.")


@strawberry.input(description="The current password, and the one to replace it.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The password in use now.")
    new_password: str = strawberry.field(description="10 to 256 characters.")
