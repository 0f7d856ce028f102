"""MongoDB wire-protocol framing: the header, OP_MSG, and the legacy OP_QUERY/OP_REPLY pair."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.errors import BSONError

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

HEADER = struct.Struct("<iiii")
HEADER_SIZE = HEADER.size
MAX_MESSAGE_SIZE = 48_000_000

CHECKSUM_PRESENT = 1 << 0
MORE_TO_COME = 1 << 1
EXHAUST_ALLOWED = 1 << 16
# The low 16 flag bits are "required": a receiver must refuse any of them it does not know.
_UNKNOWN_REQUIRED_FLAGS = 0xFFFF & ~(CHECKSUM_PRESENT | MORE_TO_COME)

QUERY_FAILURE = 1 << 1

# UUIDs stay bson.Binary (subtype 4) inside the emulator: an exact round trip, and mongomock's own
# BSON checks refuse native uuid.UUID values. DATETIME_AUTO keeps out-of-range dates decodable.
DECODE_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=False,
    uuid_representation=UuidRepresentation.UNSPECIFIED,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)
ENCODE_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=False, uuid_representation=UuidRepresentation.STANDARD
)

_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
_REPLY_PREFIX = struct.Struct("<iqii")


class WireError(Exception):
    """A malformed message: the connection that sent it is closed."""


@dataclass(frozen=True)
class Header:
    length: int
    request_id: int
    response_to: int
    op_code: int


@dataclass(frozen=True)
class OpMsg:
    flags: int
    body: dict[str, Any]

    @property
    def more_to_come(self) -> bool:
        return bool(self.flags & MORE_TO_COME)


@dataclass(frozen=True)
class OpQuery:
    flags: int
    collection: str
    skip: int
    limit: int
    query: dict[str, Any]

    @property
    def command(self) -> dict[str, Any]:
        """The command document, unwrapped from the legacy `{$query: ...}` envelope."""
        wrapped = self.query.get("$query")
        return dict(wrapped) if isinstance(wrapped, Mapping) else self.query


def parse_header(data: bytes) -> Header:
    if len(data) != HEADER_SIZE:
        raise WireError(f"a message header has {HEADER_SIZE} bytes, got {len(data)}")
    header = Header(*HEADER.unpack(data))
    if not HEADER_SIZE <= header.length <= MAX_MESSAGE_SIZE:
        raise WireError(f"message length {header.length} is out of range")
    return header


def parse_op_msg(payload: bytes) -> OpMsg:
    """Decode an OP_MSG (without its header); document sequences become lists in the body."""
    try:
        return _parse_op_msg(payload)
    except (BSONError, ValueError, IndexError, struct.error, UnicodeDecodeError) as exc:
        raise WireError(f"malformed OP_MSG: {exc}") from exc


def _parse_op_msg(payload: bytes) -> OpMsg:
    (flags,) = _UINT32.unpack_from(payload, 0)
    if flags & _UNKNOWN_REQUIRED_FLAGS:
        raise WireError(f"OP_MSG carries unknown required flag bits {flags:#x}")
    end = len(payload) - (4 if flags & CHECKSUM_PRESENT else 0)
    position = 4
    body: dict[str, Any] | None = None
    sequences: list[tuple[str, list[dict[str, Any]]]] = []
    while position < end:
        kind = payload[position]
        position += 1
        if kind == 0:
            if body is not None:
                raise WireError("OP_MSG has more than one body section")
            size = _section_size(payload, position, end, minimum=5)
            body = bson.decode(payload[position : position + size], DECODE_OPTIONS)
        elif kind == 1:
            size = _section_size(payload, position, end, minimum=5)
            name_end = payload.index(b"\x00", position + 4, position + size)
            identifier = payload[position + 4 : name_end].decode()
            documents = bson.decode_all(payload[name_end + 1 : position + size], DECODE_OPTIONS)
            sequences.append((identifier, documents))
        else:
            raise WireError(f"unknown OP_MSG section kind {kind}")
        position += size
    if body is None:
        raise WireError("OP_MSG has no body section")
    for identifier, documents in sequences:
        if identifier in body:
            raise WireError(f"OP_MSG field {identifier!r} is both in the body and a sequence")
        body[identifier] = documents
    return OpMsg(flags=flags, body=body)


def _section_size(payload: bytes, position: int, end: int, *, minimum: int) -> int:
    (size,) = _INT32.unpack_from(payload, position)
    if size < minimum or position + size > end:
        raise WireError(f"OP_MSG section size {size} overruns the message")
    return int(size)


def parse_op_query(payload: bytes) -> OpQuery:
    """Decode a legacy OP_QUERY (without its header); only its handshake use is served."""
    try:
        (flags,) = _INT32.unpack_from(payload, 0)
        name_end = payload.index(b"\x00", 4)
        collection = payload[4:name_end].decode()
        skip, limit = struct.unpack_from("<ii", payload, name_end + 1)
        start = name_end + 9
        size = _section_size(payload, start, len(payload), minimum=5)
        query = bson.decode(payload[start : start + size], DECODE_OPTIONS)
    except (BSONError, ValueError, IndexError, struct.error, UnicodeDecodeError) as exc:
        raise WireError(f"malformed OP_QUERY: {exc}") from exc
    return OpQuery(flags=flags, collection=collection, skip=skip, limit=limit, query=query)


def encode_op_msg(document: Mapping[str, Any], *, request_id: int, response_to: int) -> bytes:
    body = bson.encode(document, codec_options=ENCODE_OPTIONS)
    payload = _UINT32.pack(0) + b"\x00" + body
    return HEADER.pack(HEADER_SIZE + len(payload), request_id, response_to, OP_MSG) + payload


def encode_op_reply(
    documents: Sequence[Mapping[str, Any]], *, request_id: int, response_to: int, flags: int = 0
) -> bytes:
    encoded = b"".join(bson.encode(doc, codec_options=ENCODE_OPTIONS) for doc in documents)
    payload = _REPLY_PREFIX.pack(flags, 0, 0, len(documents)) + encoded
    return HEADER.pack(HEADER_SIZE + len(payload), request_id, response_to, OP_REPLY) + payload
