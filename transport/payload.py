"""What a GraphQL-over-HTTP request asks for: one operation, or a batch of them.

Everything here is pure: it turns a decoded body or a query string into `OperationRequest`s,
or says precisely why the request is not a GraphQL request (HTTP 400, nothing runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

MAX_BATCH = 5


@dataclass(frozen=True)
class OperationRequest:
    # None only when the request names a persisted query by its hash instead.
    query: str | None
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None


class NotAGraphQLRequest(Exception):  # noqa: N818 -- reads as the HTTP outcome it names
    """The request is malformed before any GraphQL is involved (HTTP 400)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BatchSizeRefused(Exception):  # noqa: N818
    """An empty batch or one over MAX_BATCH operations (HTTP 400, QUERY_TOO_COMPLEX)."""

    def __init__(self, size: int) -> None:
        if size == 0:
            message = "A batch must contain at least one operation."
        else:
            message = f"A batch may contain at most {MAX_BATCH} operations; this one has {size}."
        super().__init__(message)
        self.message = message


def decode_json_body(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise NotAGraphQLRequest("The request body is not valid JSON.", field="body") from None


def operations_from_body(decoded: Any) -> tuple[list[OperationRequest], bool]:
    """The operations of a POST body, and whether it was a batch (a JSON array)."""
    if isinstance(decoded, list):
        if not 1 <= len(decoded) <= MAX_BATCH:
            raise BatchSizeRefused(len(decoded))
        # Every item is checked before any runs: a malformed batch runs nothing.
        return [_operation(item, prefix=f"[{index}].") for index, item in enumerate(decoded)], True
    return [_operation(decoded, prefix="")], False


def operation_from_query_string(params: Mapping[str, str]) -> OperationRequest:
    """The operation of a GET request: `variables` and `extensions` are JSON-encoded strings."""
    fields: dict[str, Any] = {"query": params.get("query")}
    if params.get("operationName"):
        fields["operationName"] = params["operationName"]
    for name in ("variables", "extensions"):
        raw = params.get(name)
        if raw:
            try:
                fields[name] = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise NotAGraphQLRequest(
                    f"The `{name}` parameter is not valid JSON.", field=name
                ) from None
    return _operation(fields, prefix="")


def _operation(item: Any, *, prefix: str) -> OperationRequest:
    if not isinstance(item, dict):
        raise NotAGraphQLRequest(
            "A GraphQL request is a JSON object with a `query` string.", field=prefix + "body"
        )
    query = item.get("query")
    extensions = _optional_object(item, "extensions", prefix=prefix)
    by_hash = query is None and isinstance((extensions or {}).get("persistedQuery"), dict)
    if not isinstance(query, str) and not by_hash:
        # An empty string is a document that fails to parse, not a malformed request.
        raise NotAGraphQLRequest(
            "`query` must be a string holding a GraphQL document.",
            field=prefix + "query",
        )
    return OperationRequest(
        query=query,
        variables=_optional_object(item, "variables", prefix=prefix),
        operation_name=_optional_string(item, "operationName", prefix=prefix),
        extensions=extensions,
    )


def _optional_object(item: dict[str, Any], name: str, *, prefix: str) -> dict[str, Any] | None:
    value = item.get(name)
    if value is None or isinstance(value, dict):
        return value
    raise NotAGraphQLRequest(f"`{name}` must be a JSON object when given.", field=prefix + name)


def _optional_string(item: dict[str, Any], name: str, *, prefix: str) -> str | None:
    value = item.get(name)
    if value is None or isinstance(value, str):
        return value
    raise NotAGraphQLRequest(f"`{name}` must be a string when given.", field=prefix + name)
