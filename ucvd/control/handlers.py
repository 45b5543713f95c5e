"""A control-socket method from an operation: the one place where a refusal becomes an RPC
error (`-32000` with the refusal's kind as `data.kind` and its message as is).

Operations (ucvd.service, the daemon's own) raise `ucvd.domain.refusals.Refused` and know
nothing of JSON-RPC; anything else they raise stays an internal error, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ucvd.api.jsonrpc import RpcError
from ucvd.control.server import Connection, Method
from ucvd.domain.refusals import Refused

Params = TypeVar("Params")
R = TypeVar("R")


def answering(
    call: Callable[[Params, Connection], Awaitable[R]],
) -> Callable[[Params, Connection], Awaitable[R]]:
    """`call`, with its refusals raised as the RPC errors the socket sends."""

    async def answer(params: Params, conn: Connection) -> R:
        try:
            return await call(params, conn)
        except Refused as exc:
            raise RpcError.domain(exc.kind, exc.message) from None

    return answer


def method(params: type[Any], call: Callable[[Any, Connection], Awaitable[Any]]) -> Method:
    return Method(params, answering(call))
