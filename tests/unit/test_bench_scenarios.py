"""bench/scenarios.py: when a candidate's answer counts as taskql's, and how calls are rotated."""

from __future__ import annotations

from bench.scenarios import Call, Scenario, disagreement, evenly, interleave

REFERENCE = b'{"data":{"me":{"id":"VXNlcjox","name":"Ada"}},"extensions":{"cost":{"x":1}}}'


def test_equal_data_agrees_whatever_the_extensions_and_key_order() -> None:
    answer = b'{"data":{"me":{"name":"Ada","id":"VXNlcjox"}}}'
    assert disagreement(REFERENCE, answer, status=200) is None


def test_other_data_is_named_by_its_path() -> None:
    answer = b'{"data":{"me":{"id":"VXNlcjox","name":"Bob"}}}'
    reason = disagreement(REFERENCE, answer, status=200)
    assert reason is not None
    assert "data.me.name" in reason


def test_errors_status_and_non_json_disagree() -> None:
    errors = b'{"data":null,"errors":[{"message":"no"}]}'
    assert "errors" in (disagreement(REFERENCE, errors, status=200) or "")
    assert "HTTP 429" in (disagreement(REFERENCE, b"{}", status=429) or "")
    assert "not JSON" in (disagreement(REFERENCE, b"<html>", status=200) or "")


def test_without_a_reference_only_errors_count() -> None:
    assert disagreement(None, b'{"data":{"updateTask":{"id":"x"}}}', status=200) is None
    assert disagreement(None, b'{"data":null}', status=200) == "no data"


def test_list_items_are_compared_one_by_one() -> None:
    reference = b'{"data":{"tasks":[1,2,3]}}'
    shorter = disagreement(reference, b'{"data":{"tasks":[1,2]}}', status=200)
    assert shorter is not None
    assert "2 items, not 3" in shorter
    reason = disagreement(reference, b'{"data":{"tasks":[1,5,3]}}', status=200)
    assert reason is not None
    assert "data.tasks[1]" in reason


def _calls(*names: str) -> list[Call]:
    return [Call(name, b"{}") for name in names]


def test_interleave_takes_one_of_each_group_in_turn() -> None:
    groups = [_calls("a1", "a2", "a3"), _calls("b1"), _calls("c1", "c2")]
    assert [c.token for c in interleave(groups)] == ["a1", "b1", "c1", "a2", "c2", "a3"]


def test_evenly_spreads_the_sample() -> None:
    calls = _calls(*(str(i) for i in range(10)))
    assert [c.token for c in evenly(calls, 3)] == ["0", "3", "6"]
    assert evenly(calls[:2], 3) == calls[:2]


def test_only_list_scenarios_run_at_every_connection_count() -> None:
    hello = Scenario("hello", (), ())
    page = Scenario("list-warm", (), (), every_connection_count=True)
    assert hello.connection_counts((10, 50)) == (10,)
    assert page.connection_counts((10, 50)) == (10, 50)
    assert Call("", b"{}").authorization == ""
