"""The input rules for credentials: emails, passwords and display names."""

from __future__ import annotations

import re

from models.user import normalise_email

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
MAX_NAME_LENGTH = 100
# RFC 5321 §4.5.3.1: a path holds at most 256 octets, so an address at most 254 characters.
MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64

# Deliberately loose (no attempt at RFC 5322): one "@", no spaces, a dotted domain. Whether
# an address really exists is for a confirmation mail to find out, not a pattern.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")


class CredentialRuleError(ValueError):
    """A value breaks an input rule; `field` names it as the API spells it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def check_email(raw: str, *, field: str = "email") -> str:
    """The normalised email (trimmed, lower-cased), or CredentialRuleError."""
    email = normalise_email(raw)
    local_part = email.partition("@")[0]
    if (
        len(email) > MAX_EMAIL_LENGTH
        or len(local_part) > MAX_LOCAL_PART_LENGTH
        or not email.isprintable()
        or _EMAIL.fullmatch(email) is None
    ):
        raise CredentialRuleError(field, f"`{field}` is not a valid email address.")
    return email


def check_password(raw: str, *, field: str = "password") -> str:
    """The password, unchanged (never trimmed: every character counts), or CredentialRuleError."""
    if not MIN_PASSWORD_LENGTH <= len(raw) <= MAX_PASSWORD_LENGTH:
        raise CredentialRuleError(
            field,
            f"`{field}` must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long.",
        )
    return raw


def check_name(raw: str, *, field: str = "name") -> str:
    """The trimmed name, or CredentialRuleError."""
    name = raw.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise CredentialRuleError(
            field, f"`{field}` must be 1 to {MAX_NAME_LENGTH} characters long after trimming."
        )
    return name
