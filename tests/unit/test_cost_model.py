"""The schema's @cost/@listSize directives are printed and read back; unsized lists are refused."""

from __future__ import annotations

import pytest
import strawberry

from cost.model import CostModel, ListSizing, unsized_lists
from schema.cost_directives import Cost, ListSize, cost_model_of


@strawberry.type
class Item:
    name: str


@strawberry.type(name="Query")
class UnsizedQuery:
    @strawberry.field
    def items(self) -> list[Item]:
        return []

    @strawberry.field
    def labels(self) -> list[str] | None:
        return None

    @strawberry.field(directives=[ListSize(assumed_size=5)])
    def sized(self) -> list[Item]:
        return []


def test_a_list_without_list_size_is_refused_by_name() -> None:
    with pytest.raises(
        ValueError, match=r"^lists without @listSize cannot be priced: Query\.items, Query\.labels$"
    ):
        cost_model_of(strawberry.Schema(query=UnsizedQuery))


@strawberry.type
class Page:
    @strawberry.field
    def entries(self) -> list[Item]:
        return []


@strawberry.type(name="Query")
class PagedQuery:
    @strawberry.field(directives=[ListSize(assumed_size=10, sized_fields=["entries"])])
    def page(self) -> Page:
        return Page()

    @strawberry.field
    def other_page(self) -> Page:
        return Page()


def test_a_sized_field_counts_only_when_every_parent_sizes_it() -> None:
    with pytest.raises(ValueError, match=r": Page\.entries$"):
        cost_model_of(strawberry.Schema(query=PagedQuery))


@strawberry.type(name="Query")
class SizedPagesQuery:
    @strawberry.field(
        directives=[
            Cost(weight=4),
            ListSize(assumed_size=10, slicing_arguments=["first"], sized_fields=["entries"]),
        ]
    )
    def page(self, first: int | None = None) -> Page:
        return Page()


def test_the_model_reads_weights_and_sizes() -> None:
    model = cost_model_of(strawberry.Schema(query=SizedPagesQuery))
    assert model.field_weights == {("Query", "page"): 4}
    assert model.type_weights == {}
    assert model.list_sizes == {
        ("Query", "page"): ListSizing(
            assumed_size=10, slicing_arguments=("first",), sized_fields=("entries",)
        )
    }


def test_list_size_naming_a_missing_field_is_refused() -> None:
    bogus = CostModel(list_sizes={("Query", "nothing"): ListSizing(assumed_size=1)})
    with pytest.raises(ValueError, match=r"^@listSize names Query\.nothing, which the schema"):
        unsized_lists(strawberry.Schema(query=SizedPagesQuery)._schema, bogus)


def test_the_real_schema_sizes_every_list(schema: strawberry.Schema) -> None:
    model = cost_model_of(schema)
    assert unsized_lists(schema._schema, model) == []
    connection = ListSizing(
        assumed_size=20, slicing_arguments=("first", "last"), sized_fields=("edges", "nodes")
    )
    assert model.list_sizes[("Query", "tasks")] == connection
    assert model.list_sizes[("User", "tasks")] == connection
    assert model.list_sizes[("Task", "tags")] == ListSizing(assumed_size=20)
    assert model.field_weights[("Mutation", "createTask")] == 11
    assert model.field_weights[("Mutation", "deleteTask")] == 10
    assert model.field_weights[("Query", "rateLimit")] == 0
    assert model.field_weights[("TaskConnection", "pageInfo")] == 0
    assert model.type_weights == {"TaskEdge": 0}


def test_printed_schema_carries_the_directives(schema: strawberry.Schema) -> None:
    printed = schema.as_str()
    assert "directive @cost(weight: Int!) on FIELD_DEFINITION | OBJECT" in printed
    assert (
        "directive @listSize(assumedSize: Int, slicingArguments: [String!], "
        "sizedFields: [String!], requireOneSlicingArgument: Boolean! = false) "
        "on FIELD_DEFINITION"
    ) in printed
    connection = (
        "): TaskConnection! @cost(weight: 2) @listSize(assumedSize: 20, "
        'slicingArguments: ["first", "last"], sizedFields: ["edges", "nodes"], '
        "requireOneSlicingArgument: false)"
    )
    assert printed.count(connection) == 2
    assert "  ): Task! @cost(weight: 11)\n" in printed
    create_task = printed[printed.index("  createTask(") :]
    assert create_task[: create_task.index("\n\n")].endswith("): Task! @cost(weight: 11)")
    assert "type TaskEdge @cost(weight: 0) {" in printed
    assert "rateLimit: RateLimit! @cost(weight: 0)" in printed
