"""Passwords: Argon2id hashes (RFC 9106 low-memory profile), computed off the event loop."""

from __future__ import annotations

import asyncio
import logging

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

log = logging.getLogger("taskql.auth")

HASHER = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)

# The hash of a random password nobody knows, made with HASHER's parameters: an unknown email
# is checked against it so that it takes as long as a wrong password (a test keeps it current).
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$aDFSdFXBi1HPXnjGc40fmg"
    "$9CVyIssNVU+t1xRDjZdt3hwJYSkEmhDX+VQ2D7HHSzA"
)


async def hash_password(password: str) -> str:
    # Argon2 holds a core (and 64 MiB) for ~0.1 s: never on the event loop.
    return await asyncio.to_thread(HASHER.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (unknown email) it is always False, but only
    after the same work as a real check."""
    if password_hash is None:
        await asyncio.to_thread(_matches, DUMMY_HASH, password)
        return False
    return await asyncio.to_thread(_matches, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than HASHER's (rehash on next sign-in)."""
    try:
        return HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def _matches(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        log.error("a stored password hash cannot be verified (corrupt or unsupported)")
        return False
