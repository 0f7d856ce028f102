"""`server.py seed`'s options and the refusals that come before any database work."""

from __future__ import annotations

import argparse

import pytest

from seed.command import DEMO_PASSWORD, add_seed_command, run
from seed.generate import DEFAULT_RANDOM_SEED


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="server.py")
    add_seed_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(["seed", *argv])


def test_defaults() -> None:
    arguments = parse()
    assert (arguments.users, arguments.tasks_per_user) == (10, 100)
    assert arguments.random_seed == DEFAULT_RANDOM_SEED
    assert (arguments.email_prefix, arguments.password) == ("demo", DEMO_PASSWORD)
    assert not arguments.reset
    assert arguments.handler is run


def test_options() -> None:
    arguments = parse(
        "--users", "3", "--tasks-per-user", "0", "--random-seed", "7", "--email-prefix", " Team ",
        "--password", "another secret", "--reset",
    )  # fmt: skip
    assert (arguments.users, arguments.tasks_per_user, arguments.random_seed) == (3, 0, 7)
    assert (arguments.email_prefix, arguments.password) == ("team", "another secret")
    assert arguments.reset


@pytest.mark.parametrize(
    "argv",
    [
        ("--users", "0"),
        ("--users", "many"),
        ("--tasks-per-user", "-1"),
        ("--password", "short"),
        ("--email-prefix", "a b"),
        ("--email-prefix", "a@b"),
    ],
)
def test_bad_options_are_usage_errors(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse(*argv)
    assert stopped.value.code == 2


def test_without_mongodb_url_it_explains_how_to_get_a_shared_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MONGODB_URL", raising=False)
    with pytest.raises(SystemExit) as stopped:
        run(parse())
    assert stopped.value.code == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1
    assert "MONGODB_URL" in message
    assert "python server.py services" in message


def test_production_needs_an_explicit_yes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TASKQL_ENV", "production")
    monkeypatch.setenv("MONGODB_URL", "mongodb://127.0.0.1:9")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9")
    monkeypatch.setenv("JWT_SECRET", "k" * 48)
    with pytest.raises(SystemExit) as stopped:
        run(parse())
    assert stopped.value.code == 2
    assert "--allow-production" in capsys.readouterr().err
