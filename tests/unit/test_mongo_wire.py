"""Message framing of the MongoDB emulator: OP_MSG sections and flags, OP_QUERY and OP_REPLY."""

from __future__ import annotations

import struct
import uuid
from typing import Any

import bson
import pytest
from bson.binary import Binary, UuidRepresentation
from bson.codec_options import CodecOptions

from storage.mongo_emulator.wire import (
    CHECKSUM_PRESENT,
    HEADER_SIZE,
    MORE_TO_COME,
    OP_MSG,
    OP_REPLY,
    WireError,
    encode_op_msg,
    encode_op_reply,
    parse_header,
    parse_op_msg,
    parse_op_query,
)


def body_section(document: dict[str, Any]) -> bytes:
    return b"\x00" + bson.encode(document)


def sequence_section(identifier: str, documents: list[dict[str, Any]]) -> bytes:
    payload = identifier.encode() + b"\x00" + b"".join(bson.encode(d) for d in documents)
    return b"\x01" + struct.pack("<i", 4 + len(payload)) + payload


def op_msg(flags: int, *sections: bytes) -> bytes:
    return struct.pack("<I", flags) + b"".join(sections)


def test_body_section_alone() -> None:
    message = parse_op_msg(op_msg(0, body_section({"ping": 1, "$db": "admin"})))
    assert message.body == {"ping": 1, "$db": "admin"}
    assert not message.more_to_come


def test_document_sequences_merge_into_the_body_as_lists() -> None:
    payload = op_msg(
        0,
        body_section({"insert": "things", "$db": "app"}),
        sequence_section("documents", [{"_id": 1}, {"_id": 2, "v": "x"}]),
    )
    body = parse_op_msg(payload).body
    assert body == {
        "insert": "things",
        "$db": "app",
        "documents": [{"_id": 1}, {"_id": 2, "v": "x"}],
    }


def test_a_sequence_may_come_before_the_body_and_be_empty() -> None:
    payload = op_msg(0, sequence_section("updates", []), body_section({"update": "t", "$db": "a"}))
    assert parse_op_msg(payload).body["updates"] == []


def test_checksum_trailer_is_skipped() -> None:
    payload = op_msg(CHECKSUM_PRESENT, body_section({"ping": 1})) + b"\xde\xad\xbe\xef"
    assert parse_op_msg(payload).body == {"ping": 1}


def test_more_to_come_is_reported() -> None:
    message = parse_op_msg(op_msg(MORE_TO_COME, body_section({"insert": "t"})))
    assert message.more_to_come


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(op_msg(1 << 5, body_section({"ping": 1})), id="unknown required flag"),
        pytest.param(op_msg(0, b"\x02" + bson.encode({"a": 1})), id="unknown section kind"),
        pytest.param(op_msg(0, sequence_section("documents", [])), id="no body"),
        pytest.param(
            op_msg(0, body_section({"ping": 1}), body_section({"ping": 1})), id="two bodies"
        ),
        pytest.param(
            op_msg(0, body_section({"documents": []}), sequence_section("documents", [])),
            id="field twice",
        ),
        pytest.param(op_msg(0, body_section({"ping": 1}))[:-3], id="truncated"),
        pytest.param(
            op_msg(0, b"\x01" + struct.pack("<i", 200) + b"documents\x00"), id="overlong section"
        ),
    ],
)
def test_malformed_op_msg_is_refused(payload: bytes) -> None:
    with pytest.raises(WireError):
        parse_op_msg(payload)


def test_op_msg_reply_round_trips() -> None:
    message = encode_op_msg({"ok": 1.0, "n": 3}, request_id=7, response_to=42)
    header = parse_header(message[:HEADER_SIZE])
    assert (header.length, header.request_id, header.response_to, header.op_code) == (
        len(message),
        7,
        42,
        OP_MSG,
    )
    assert parse_op_msg(message[HEADER_SIZE:]).body == {"ok": 1.0, "n": 3}


def test_header_length_is_bounded() -> None:
    with pytest.raises(WireError):
        parse_header(struct.pack("<iiii", 8, 1, 0, OP_MSG))
    with pytest.raises(WireError):
        parse_header(struct.pack("<iiii", 50_000_000, 1, 0, OP_MSG))
    with pytest.raises(WireError):
        parse_header(b"\x00" * 10)


def op_query(collection: str, query: dict[str, Any], *, flags: int = 0) -> bytes:
    return (
        struct.pack("<i", flags)
        + collection.encode()
        + b"\x00"
        + struct.pack("<ii", 0, -1)
        + bson.encode(query)
    )


def test_op_query_handshake_is_decoded() -> None:
    query = parse_op_query(op_query("admin.$cmd", {"isMaster": 1, "helloOk": True}))
    assert query.collection == "admin.$cmd"
    assert (query.skip, query.limit) == (0, -1)
    assert query.command == {"isMaster": 1, "helloOk": True}


def test_op_query_unwraps_the_legacy_query_envelope() -> None:
    wrapped = {"$query": {"hello": 1}, "$readPreference": {"mode": "primaryPreferred"}}
    assert parse_op_query(op_query("admin.$cmd", wrapped)).command == {"hello": 1}


def test_truncated_op_query_is_refused() -> None:
    with pytest.raises(WireError):
        parse_op_query(op_query("admin.$cmd", {"isMaster": 1})[:-2])


def test_op_reply_layout() -> None:
    message = encode_op_reply([{"ismaster": True, "ok": 1.0}], request_id=3, response_to=9)
    header = parse_header(message[:HEADER_SIZE])
    assert (header.op_code, header.response_to, header.length) == (OP_REPLY, 9, len(message))
    flags, cursor_id, starting_from, returned = struct.unpack_from("<iqii", message, HEADER_SIZE)
    assert (flags, cursor_id, starting_from, returned) == (0, 0, 0, 1)
    assert bson.decode(message[HEADER_SIZE + 20 :]) == {"ismaster": True, "ok": 1.0}


def test_uuids_cross_the_wire_unchanged() -> None:
    value = uuid.uuid4()
    standard: CodecOptions[dict[str, Any]] = CodecOptions(
        uuid_representation=UuidRepresentation.STANDARD
    )
    body = parse_op_msg(op_msg(0, b"\x00" + bson.encode({"u": value}, codec_options=standard))).body
    assert body["u"] == Binary(value.bytes, 4)
    echoed = encode_op_msg(body, request_id=1, response_to=1)
    assert bson.decode(echoed[HEADER_SIZE + 5 :], codec_options=standard) == {"u": value}
