"""What a resolver's field selects below it, read from the document (fragments expanded;
`@skip`/`@include` ignored, so the answer may be yes for a field that ends up skipped)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from schema.context import Info


def selects(info: Info, *paths: Sequence[str]) -> bool:
    """Whether the resolved field's selection reaches any of `paths` (field names, in order)."""
    raw = info._raw_info
    return any(
        _reaches(node.selection_set, path, raw.fragments)
        for node in raw.field_nodes
        for path in paths
    )


def _reaches(
    selection_set: SelectionSetNode | None,
    path: Sequence[str],
    fragments: dict[str, FragmentDefinitionNode],
) -> bool:
    if not path:
        return True
    return any(
        field.name.value == path[0] and _reaches(field.selection_set, path[1:], fragments)
        for field in _fields(selection_set, fragments)
    )


def _fields(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                yield from _fields(fragment.selection_set, fragments)
