"""The input rules for emails, passwords and names."""

from __future__ import annotations

import pytest

from auth.credentials import CredentialRuleError, check_email, check_name, check_password


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("ada@example.com", "ada@example.com"),
        ("  Ada.Lovelace@Example.COM \n", "ada.lovelace@example.com"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
        ("ÄDA@bücher.example", "äda@bücher.example"),
    ],
)
def test_valid_emails_are_trimmed_and_lower_cased(raw: str, normalised: str) -> None:
    assert check_email(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "ada@@example.com",
        "ada@exa mple.com",
        "ada @example.com",
        "ada@example..com",
        "ada@.example.com",
        "ada@example.com.",
        "ada\x00@example.com",
        "a" * 65 + "@example.com",
        "ada@" + "e" * 250 + ".com",
    ],
)
def test_malformed_emails_name_the_field(raw: str) -> None:
    with pytest.raises(CredentialRuleError) as caught:
        check_email(raw, field="email")
    assert caught.value.field == "email"


@pytest.mark.parametrize("length", [10, 11, 255, 256])
def test_passwords_of_10_to_256_characters_pass_unchanged(length: int) -> None:
    password = " " + "p" * (length - 2) + " "
    assert check_password(password) == password


@pytest.mark.parametrize("length", [0, 1, 9, 257, 10_000])
def test_passwords_outside_10_to_256_are_refused(length: int) -> None:
    with pytest.raises(CredentialRuleError) as caught:
        check_password("p" * length, field="newPassword")
    assert caught.value.field == "newPassword"


def test_password_length_counts_characters_not_bytes() -> None:
    assert check_password("é" * 10) == "é" * 10
    with pytest.raises(CredentialRuleError):
        check_password("🔑" * 257)


@pytest.mark.parametrize(
    ("raw", "name"),
    [("Ada", "Ada"), ("  Ada Lovelace  ", "Ada Lovelace"), ("x" * 100, "x" * 100)],
)
def test_names_are_trimmed(raw: str, name: str) -> None:
    assert check_name(raw) == name


@pytest.mark.parametrize("raw", ["", "   ", "\t\n", "x" * 101, " " + "x" * 101 + " "])
def test_names_outside_1_to_100_are_refused(raw: str) -> None:
    with pytest.raises(CredentialRuleError) as caught:
        check_name(raw)
    assert caught.value.field == "name"


def test_name_of_100_after_trimming_passes() -> None:
    assert check_name("  " + "x" * 100 + "  ") == "x" * 100
