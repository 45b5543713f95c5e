"""JSON-RPC framing and envelopes: every kind of bad input becomes the right error."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ucvd.api.jsonrpc import (
    MAX_MESSAGE_BYTES,
    Code,
    DomainKind,
    LineSplitter,
    Notification,
    Response,
    RpcError,
    decode_params,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
    parse_reply,
    parse_request,
)
from ucvd.domain.refusals import Refusal


class StartParams(msgspec.Struct, forbid_unknown_fields=True):
    camera_id: str
    force_restart: bool = False


@pytest.mark.parametrize(
    ("line", "code", "id_", "fragment"),
    [
        (b"not json", Code.PARSE_ERROR, None, "not valid JSON"),
        (b'{"jsonrpc":"2.0","method":"x","id":1', Code.PARSE_ERROR, None, "not valid JSON"),
        (b"\xff\xfe{}", Code.PARSE_ERROR, None, "not valid JSON"),
        (b"[]", Code.INVALID_REQUEST, None, "Expected `object`"),
        (b"42", Code.INVALID_REQUEST, None, "Expected `object`"),
        (b'{"method":"x","id":7}', Code.INVALID_REQUEST, 7, "missing required field `jsonrpc`"),
        (b'{"jsonrpc":"1.0","method":"x","id":"a"}', Code.INVALID_REQUEST, "a", "jsonrpc"),
        (b'{"jsonrpc":"2.0","id":3}', Code.INVALID_REQUEST, 3, "`method`"),
        (b'{"jsonrpc":"2.0","method":5,"id":3}', Code.INVALID_REQUEST, 3, "`$.method`"),
        (b'{"jsonrpc":"2.0","method":"x","id":1.5}', Code.INVALID_REQUEST, None, "`$.id`"),
        (b'{"jsonrpc":"2.0","method":"x","id":true}', Code.INVALID_REQUEST, None, "`$.id`"),
        (b'{"jsonrpc":"2.0","method":"x","id":1,"extra":0}', Code.INVALID_REQUEST, 1, "extra"),
    ],
)
def test_bad_envelopes(line: bytes, code: Code, id_: object, fragment: str) -> None:
    with pytest.raises(RpcError) as info:
        parse_request(line)
    assert info.value.code == code
    assert info.value.id == id_
    assert fragment in info.value.message


def test_good_envelope_and_notification() -> None:
    req = parse_request(
        b'{"jsonrpc":"2.0","method":"publishing.start","params":{"camera_id":"a"},"id":9}'
    )
    assert (req.method, req.id, req.is_notification) == ("publishing.start", 9, False)
    assert decode_params(req, StartParams) == StartParams("a")
    note = parse_request(b'{"jsonrpc":"2.0","method":"daemon.health"}')
    assert note.is_notification
    assert bytes(note.params) == b"{}"
    assert parse_request(b'{"jsonrpc":"2.0","method":"x","id":null}').id is None


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "missing required field `camera_id`"),
        ({"camera_id": 5}, "Expected `str`, got `int` - at `$.camera_id`"),
        ({"camera_id": "a", "force_restart": "yes"}, "at `$.force_restart`"),
        ({"camera_id": "a", "bogus": 1}, "unknown field `bogus`"),
        (["a"], "Expected `object`, got `array`"),
    ],
)
def test_bad_params_name_the_field(params: Any, fragment: str) -> None:
    line = json.dumps({"jsonrpc": "2.0", "method": "m", "params": params, "id": 4}).encode()
    with pytest.raises(RpcError) as info:
        decode_params(parse_request(line), StartParams)
    assert info.value.code == Code.INVALID_PARAMS and info.value.id == 4
    assert fragment in info.value.message


def test_oversized_message_is_refused_before_parsing() -> None:
    with pytest.raises(RpcError) as info:
        parse_request(b"{" + b" " * MAX_MESSAGE_BYTES + b"}")
    assert info.value.kind == DomainKind.MESSAGE_TOO_LARGE


@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_an_rpc_error_or_a_request(data: bytes) -> None:
    try:
        parse_request(data)
    except RpcError as exc:
        assert exc.code in (Code.PARSE_ERROR, Code.INVALID_REQUEST)


json_values = st.recursive(
    # JSON has no NaN or Infinity: json.dumps would write tokens no parser must accept.
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_arbitrary_json_gives_an_rpc_error_or_a_request(value: Any) -> None:
    try:
        request = parse_request(json.dumps(value).encode())
    except RpcError as exc:
        assert exc.code == Code.INVALID_REQUEST
    else:
        try:
            decode_params(request, StartParams)
        except RpcError as exc:
            assert exc.code == Code.INVALID_PARAMS


def test_encoding_round_trips_through_the_client_decoder() -> None:
    reply = parse_reply(encode_result(3, {"status": "publishing"}))
    assert isinstance(reply, Response) and reply.id == 3 and reply.error is None
    assert reply.result is not None and json.loads(bytes(reply.result)) == {"status": "publishing"}

    err = RpcError.domain(Refusal.NOT_FOUND, "no camera 'x'")
    reply = parse_reply(encode_error(err, 5))
    assert isinstance(reply, Response) and reply.result is None and reply.error is not None
    assert (reply.error.code, reply.error.message) == (-32000, "no camera 'x'")
    assert reply.error.data is not None and reply.error.data.kind == "not_found"

    null_reply = parse_reply(encode_result(8, None))  # a result of null is still a result
    assert isinstance(null_reply, Response) and null_reply.result is not None
    assert json.loads(bytes(null_reply.result)) is None
    bare = json.loads(encode_error(RpcError(Code.PARSE_ERROR, "parse error")))
    assert bare == {"jsonrpc": "2.0", "id": None,
                    "error": {"code": -32700, "message": "parse error"}}  # fmt: skip

    note = parse_reply(encode_notification("events.status", {"camera_id": "a"}))
    assert isinstance(note, Notification) and note.method == "events.status"

    assert json.loads(encode_request("m", {"a": 1}, 2)) == {
        "jsonrpc": "2.0", "method": "m", "params": {"a": 1}, "id": 2,
    }  # fmt: skip
    with pytest.raises(msgspec.ValidationError):
        parse_reply(b'{"jsonrpc":"2.0","id":1}')
    assert encode_request("m", {}, 2).endswith(b"\n")


def test_line_splitter_frames_and_bounds() -> None:
    splitter = LineSplitter(limit=10)
    assert splitter.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert splitter.feed(b":2}\r\n\n  \n") == [b'{"b":2}']
    # An overlong line is reported once, skipped to its end, and framing resumes.
    assert splitter.feed(b"x" * 8) == []
    assert splitter.feed(b"y" * 8) == [LineSplitter.TOO_LONG]
    assert splitter.feed(b"zzzz" * 100) == []
    assert splitter.feed(b"end\nok\n") == [b"ok"]
    assert splitter.feed(b"0123456789A\nfine\n") == [LineSplitter.TOO_LONG, b"fine"]


def test_line_splitter_tells_a_started_line() -> None:
    """The daemon gives a started line a deadline: `partial` says one is under way."""
    splitter = LineSplitter(limit=10)
    states = [splitter.partial]
    # The last two: an overlong line being skipped is still a line under way, until its end.
    for chunk in (b'{"a":1}\n{"b"', b":2}\n", b"x" * 20, b"x\n"):
        splitter.feed(chunk)
        states.append(splitter.partial)
    assert states == [False, True, False, True, False]


def _clean_line(b: bytes) -> bool:
    return b"\n" not in b and b.strip() == b


@given(
    st.lists(st.binary(min_size=1, max_size=30).filter(_clean_line), max_size=10),
    st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_line_splitter_any_chunking(lines: list[bytes], cuts: list[int]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    splitter = LineSplitter(limit=1000)
    edges = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    out: list[bytes] = []
    for start, end in itertools.pairwise(edges):
        out += splitter.feed(data[start:end])
    assert out == lines


def test_the_size_limit_is_the_servers_setting() -> None:
    """A server configured above the default takes a message above the default."""
    params = b'{"camera_id":"' + b"c" * (MAX_MESSAGE_BYTES + 10) + b'"}'
    line = b'{"jsonrpc":"2.0","id":1,"method":"x","params":' + params + b"}"
    with pytest.raises(RpcError):
        parse_request(line)
    assert parse_request(line, limit=2 * MAX_MESSAGE_BYTES).method == "x"
