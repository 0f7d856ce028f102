"""Parsed, validated documents are reused by their text through `schema.execute`: a repeated
operation is neither parsed nor validated again, and an invalid one is never kept."""

from __future__ import annotations

import pytest
import strawberry.schema.schema as strawberry_schema
from beanie import PydanticObjectId

from schema.extensions import document_cache
from tests.integration.schema_client import SchemaClient

ME = "{ me { id } }"


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents Strawberry validates, in order."""
    seen: list[str] = []
    validate = strawberry_schema.validate_document

    def counting(schema: object, document: object, rules: object) -> object:
        seen.append(str(document))
        return validate(schema, document, rules)  # type: ignore[arg-type]

    monkeypatch.setattr(strawberry_schema, "validate_document", counting)
    return seen


async def test_a_repeated_document_is_validated_once(
    graphql: SchemaClient, validations: list[str]
) -> None:
    viewer = PydanticObjectId()
    first = await graphql.execute(ME, viewer_id=viewer)
    second = await graphql.execute(ME, viewer_id=viewer)
    assert first.codes == second.codes == []
    assert first.data == second.data == {"me": None}  # an unknown user: null, no error
    assert len(validations) == 1


async def test_an_invalid_document_is_refused_every_time(
    graphql: SchemaClient, validations: list[str]
) -> None:
    for _ in range(2):
        refused = await graphql.execute("{ me { nope } }")
        assert refused.codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert len(validations) == 2


async def test_variables_are_still_coerced_on_a_cached_document(graphql: SchemaClient) -> None:
    query = "query($n: Int) { tasks(first: $n) { nodes { id } } }"
    viewer = PydanticObjectId()
    assert (await graphql.execute(query, {"n": 1}, viewer_id=viewer)).codes == []
    refused = await graphql.execute(query, {"n": "many"}, viewer_id=viewer)
    assert refused.codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_a_cached_document_is_still_priced_and_limited(graphql: SchemaClient) -> None:
    query = "{ tasks(first: 10) { nodes { id } } }"
    viewer = PydanticObjectId()
    for _ in range(2):
        executed = await graphql.execute(query, viewer_id=viewer)
        assert executed.result.extensions is not None
        assert executed.result.extensions["cost"]["requestedQueryCost"] == 12


def test_the_store_keeps_the_most_recently_used() -> None:
    store = document_cache.ValidatedDocuments(capacity=2)
    documents = {text: object() for text in ("a", "b", "c")}
    store.put("a", documents["a"])  # type: ignore[arg-type]
    store.put("b", documents["b"])  # type: ignore[arg-type]
    assert store.get("a") is documents["a"]
    store.put("c", documents["c"])  # type: ignore[arg-type]
    assert store.get("b") is None
    assert store.get("a") is documents["a"]
    assert len(store) == 2
