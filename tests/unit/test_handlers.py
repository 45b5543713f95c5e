"""Refusals become the socket's errors in one place, with their kind and message as is."""

from __future__ import annotations

from typing import Any, cast

import anyio
import pytest

from ucvd.api.jsonrpc import Code, RpcError, encode_error
from ucvd.control.handlers import method
from ucvd.control.server import Connection
from ucvd.domain.errors import ErrorKind
from ucvd.domain.refusals import (
    AlreadyExists,
    AlreadyPublishing,
    ConfigRefused,
    Forbidden,
    InUse,
    Invalid,
    NotFound,
    NotPublishing,
    NotSaved,
    Refusal,
    Refused,
    StateChanged,
    Unauthorized,
)

NO_CONNECTION = cast(Connection, None)  # the operations below never look at it


def _raising(exc: Exception) -> Any:
    async def call(_params: object, _conn: Connection) -> None:
        raise exc

    return call


@pytest.mark.parametrize(
    ("refusal", "wire"),
    [
        (
            NotFound("no camera 'x'"),
            b'{"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"no camera \'x\'",'
            b'"data":{"kind":"not_found"}}}\n',
        ),
        (
            InUse("a discovery scan is already running"),
            b'{"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"a discovery scan is '
            b'already running","data":{"kind":"in_use"}}}\n',
        ),
        (
            Refused(ErrorKind.AUTH_FAILED, "probe of door failed: 401"),
            b'{"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"probe of door failed: '
            b'401","data":{"kind":"auth_failed"}}}\n',
        ),
        (
            ConfigRefused("line 3: bad"),
            b'{"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"line 3: bad",'
            b'"data":{"kind":"config_error"}}}\n',
        ),
    ],
)
def test_a_refusal_is_sent_as_a_domain_error(refusal: Refused, wire: bytes) -> None:
    handler = method(dict, _raising(refusal))
    with pytest.raises(RpcError) as sent:
        anyio.run(handler.call, {}, NO_CONNECTION)
    assert sent.value.code == Code.DOMAIN_ERROR
    assert encode_error(sent.value, 7) == wire


def test_each_refusal_class_names_one_kind_and_every_kind_has_one() -> None:
    wire_kinds = {
        NotFound: "not_found",
        AlreadyExists: "already_exists",
        AlreadyPublishing: "already_publishing",
        NotPublishing: "not_publishing",
        InUse: "in_use",
        Invalid: "invalid_argument",
        NotSaved: "storage_error",
        ConfigRefused: "config_error",
        StateChanged: "state_changed",
        Unauthorized: "unauthorized",
        Forbidden: "permission_denied",
    }
    for cls, kind in wire_kinds.items():
        refusal = cls("why")
        assert (refusal.kind, refusal.message, str(refusal)) == (kind, "why", "why")
    assert set(wire_kinds.values()) == set(Refusal)


def test_anything_else_passes_through_untranslated() -> None:
    handler = method(dict, _raising(KeyError("bug")))
    with pytest.raises(KeyError):
        anyio.run(handler.call, {}, NO_CONNECTION)


def test_results_and_params_pass_through() -> None:
    async def echo(params: dict[str, int], _conn: Connection) -> int:
        return params["n"] + 1

    handler = method(dict, echo)
    assert handler.params is dict
    assert anyio.run(handler.call, {"n": 41}, NO_CONNECTION) == 42
