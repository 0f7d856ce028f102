"""Passwords: Argon2id, verification, and the dummy hash that hides unknown emails."""

from __future__ import annotations

from argon2 import PasswordHasher, extract_parameters

from auth.passwords import DUMMY_HASH, HASHER, hash_password, needs_rehash, verify_password


async def test_hash_is_argon2id_and_salted() -> None:
    first = await hash_password("correct horse battery")
    second = await hash_password("correct horse battery")
    assert first.startswith("$argon2id$")
    assert first != second
    assert "correct horse battery" not in first


async def test_verify_accepts_the_password_only() -> None:
    stored = await hash_password("correct horse battery")
    assert await verify_password(stored, "correct horse battery")
    assert not await verify_password(stored, "correct horse batter")
    assert not await verify_password(stored, "Correct horse battery")


async def test_unknown_user_never_verifies() -> None:
    assert not await verify_password(None, "anything at all")


async def test_corrupt_hash_does_not_verify() -> None:
    assert not await verify_password("$argon2id$garbage", "anything at all")


def test_dummy_hash_costs_what_a_real_hash_costs() -> None:
    # If HASHER's parameters change, regenerate DUMMY_HASH with them.
    assert extract_parameters(DUMMY_HASH) == extract_parameters(HASHER.hash("x"))
    assert not needs_rehash(DUMMY_HASH)


def test_needs_rehash_for_other_parameters() -> None:
    weaker = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("x" * 12)
    assert needs_rehash(weaker)
    assert needs_rehash("not a hash")
