"""The labels of one GraphQL operation in taskql_graphql_requests_total: its type and outcome.

Both are read from what the transport already holds (the document text, the error codes of the
result): the operation type without parsing the document a second time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

OPERATION_KEYWORDS = frozenset({"query", "mutation", "subscription"})
REJECTED_CODES = frozenset({"QUERY_TOO_COMPLEX", "MAX_COST_EXCEEDED"})

# Strings and comments (skipped whole, so that braces inside them do not count), names, and
# the punctuation that can follow an operation keyword. Anything else is skipped by finditer.
_TOKEN = re.compile(
    r'"""(?:\\"""|[^"]|"(?!""))*"""'
    r'|"(?:\\.|[^"\\\n\r])*"'
    r"|#[^\n\r]*"
    r"|[_A-Za-z][_0-9A-Za-z]*"
    r"|[{}(@$]"
)


def operation_outcome(codes: Iterable[str | None]) -> str:
    """ok (no errors), throttled, rejected (too complex, too costly) or error (anything else)."""
    found = set(codes)
    if not found:
        return "ok"
    if "THROTTLED" in found:
        return "throttled"
    if found & REJECTED_CODES:
        return "rejected"
    return "error"


def operation_type(document: str, operation_name: str | None = None) -> str:
    """query, mutation or subscription: the type of the operation a request runs, or unknown.

    Without `operation_name`, the first operation's type (a document with several operations
    and no name is refused anyway). The scan stops at that operation's keyword, so it costs next
    to nothing for the usual single-operation document.
    """
    depth = 0
    definition: str | None = None  # the keyword of the top-level definition being read
    expecting_name = False
    for match in _TOKEN.finditer(document):
        lexeme = match.group()
        if lexeme[0] in '"#':
            continue
        if expecting_name:
            expecting_name = False
            if lexeme == operation_name:
                return definition or "unknown"
        if lexeme == "{":
            if depth == 0 and definition is None and operation_name is None:
                return "query"  # the `{ ... }` shorthand
            depth += 1
        elif lexeme == "}":
            depth = max(depth - 1, 0)
            if depth == 0:
                definition = None
        elif depth == 0 and definition is None:
            definition = lexeme  # query, mutation, subscription, fragment...
            if lexeme in OPERATION_KEYWORDS:
                if operation_name is None:
                    return lexeme
                expecting_name = True
    return "unknown"
