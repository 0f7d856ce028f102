"""MongoDB-shaped errors: each failure becomes `{ok: 0, errmsg, code, codeName}`, not a guess."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from bson.errors import InvalidDocument
from pymongo.errors import (
    CollectionInvalid,
    DuplicateKeyError,
    InvalidName,
    OperationFailure,
)

log = logging.getLogger(__name__)

INTERNAL_ERROR = 1
BAD_VALUE = 2
FAILED_TO_PARSE = 9
TYPE_MISMATCH = 14
AUTHENTICATION_FAILED = 18
UNAUTHORIZED = 13
ILLEGAL_OPERATION = 20
NAMESPACE_NOT_FOUND = 26
INDEX_NOT_FOUND = 27
CURSOR_NOT_FOUND = 43
NAMESPACE_EXISTS = 48
COMMAND_NOT_FOUND = 59
IMMUTABLE_FIELD = 66
CANNOT_CREATE_INDEX = 67
INVALID_OPTIONS = 72
INVALID_NAMESPACE = 73
INDEX_OPTIONS_CONFLICT = 85
INDEX_KEY_SPECS_CONFLICT = 86
NOT_IMPLEMENTED = 238
UNSUPPORTED_OP_QUERY_COMMAND = 352
DUPLICATE_KEY = 11000
UNKNOWN_FIELD = 40415
UNRECOGNIZED_STAGE = 40324
INVALID_REGEX = 51091

CODE_NAMES = {
    INTERNAL_ERROR: "InternalError",
    BAD_VALUE: "BadValue",
    FAILED_TO_PARSE: "FailedToParse",
    TYPE_MISMATCH: "TypeMismatch",
    UNAUTHORIZED: "Unauthorized",
    ILLEGAL_OPERATION: "IllegalOperation",
    NAMESPACE_NOT_FOUND: "NamespaceNotFound",
    INDEX_NOT_FOUND: "IndexNotFound",
    CURSOR_NOT_FOUND: "CursorNotFound",
    NAMESPACE_EXISTS: "NamespaceExists",
    COMMAND_NOT_FOUND: "CommandNotFound",
    IMMUTABLE_FIELD: "ImmutableField",
    CANNOT_CREATE_INDEX: "CannotCreateIndex",
    INVALID_OPTIONS: "InvalidOptions",
    INVALID_NAMESPACE: "InvalidNamespace",
    INDEX_OPTIONS_CONFLICT: "IndexOptionsConflict",
    INDEX_KEY_SPECS_CONFLICT: "IndexKeySpecsConflict",
    NOT_IMPLEMENTED: "NotImplemented",
    UNSUPPORTED_OP_QUERY_COMMAND: "UnsupportedOpQueryCommand",
    AUTHENTICATION_FAILED: "AuthenticationFailed",
    DUPLICATE_KEY: "DuplicateKey",
}

# Operators MongoDB knows: mongomock calls the ones it lacks "unknown", which would mislead.
QUERY_OPERATORS = frozenset(
    [
        "$eq",
        "$ne",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$in",
        "$nin",
        "$and",
        "$or",
        "$nor",
        "$not",
        "$exists",
        "$type",
        "$expr",
        "$jsonSchema",
        "$mod",
        "$regex",
        "$options",
        "$text",
        "$where",
        "$geoIntersects",
        "$geoWithin",
        "$near",
        "$nearSphere",
        "$box",
        "$center",
        "$centerSphere",
        "$geometry",
        "$maxDistance",
        "$minDistance",
        "$polygon",
        "$all",
        "$elemMatch",
        "$size",
        "$bitsAllClear",
        "$bitsAllSet",
        "$bitsAnyClear",
        "$bitsAnySet",
        "$comment",
        "$rand",
        "$sampleRate",
    ]
)
_UNKNOWN_OPERATOR = re.compile(r"unknown (?:top level )?operator: (\$\w+)")
_TYPE_ALIAS = re.compile(r"^-?\d+ is not a valid \$type")


class CommandError(Exception):
    """A command failure, answered to the client as MongoDB would word it."""

    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    @property
    def code_name(self) -> str:
        return CODE_NAMES.get(self.code, f"Location{self.code}")

    def document(self) -> dict[str, Any]:
        return {
            "ok": 0.0,
            "errmsg": self.message,
            "code": self.code,
            "codeName": self.code_name,
            **self.extra,
        }

    def write_error(self, index: int) -> dict[str, Any]:
        return {"index": index, "code": self.code, "errmsg": self.message, **self.extra}


_Converter = Callable[[Exception], "CommandError"]


def not_supported(what: str) -> CommandError:
    return CommandError(
        NOT_IMPLEMENTED, f"{what} is not supported by the embedded MongoDB emulator"
    )


def _duplicate_key(exc: Exception) -> CommandError:
    details = getattr(exc, "details", None) or {}
    extra = {k: details[k] for k in ("keyPattern", "keyValue") if k in details}
    # str() of a PyMongo error with details appends them; the server's own words are errmsg.
    return CommandError(DUPLICATE_KEY, details.get("errmsg", str(exc)), **extra)


def _operation_failure(exc: Exception) -> CommandError:
    message = str(exc)
    unknown = _UNKNOWN_OPERATOR.search(message)
    if unknown and unknown.group(1) in QUERY_OPERATORS:
        return not_supported(f"the query operator {unknown.group(1)}")
    if _TYPE_ALIAS.match(message):
        return not_supported("a numeric $type alias (use the type's name)")
    return CommandError(getattr(exc, "code", None) or BAD_VALUE, message)


def _coded(code: int) -> Callable[[Exception], CommandError]:
    return lambda exc: CommandError(code, str(exc))


# Checked in order (DuplicateKeyError is an OperationFailure).
_KNOWN_FAILURES: tuple[tuple[type[Exception] | tuple[type[Exception], ...], _Converter], ...] = (
    (DuplicateKeyError, _duplicate_key),
    (OperationFailure, _operation_failure),
    (NotImplementedError, lambda exc: not_supported(f"this operation ({exc})")),
    (re.error, lambda exc: CommandError(INVALID_REGEX, f"Regular expression is invalid: {exc}")),
    (InvalidName, _coded(INVALID_NAMESPACE)),
    (CollectionInvalid, _coded(NAMESPACE_EXISTS)),
    (TypeError, _coded(TYPE_MISMATCH)),
    ((ValueError, KeyError, IndexError, InvalidDocument), _coded(BAD_VALUE)),
)


def translate(exc: Exception) -> CommandError:
    """Map any failure (ours, mongomock's, Python's) to the error MongoDB would send."""
    if isinstance(exc, CommandError):
        return exc
    for kinds, convert in _KNOWN_FAILURES:
        if isinstance(exc, kinds):
            return convert(exc)
    log.exception("emulator failure", exc_info=exc)
    return CommandError(INTERNAL_ERROR, f"embedded MongoDB emulator failure: {exc!r}")
