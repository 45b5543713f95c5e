"""The dashboard's access tokens as control-socket methods, and acting for their holders.

`token.create`, `token.list` and `token.revoke` are for operators on the socket (`ucvctl
token ...`). `token.verify` and `token.act` are what ucvd-web calls: its own account may only
read (daemon.read_only_users), so anything else it does for a browser goes through
`token.act`, which the daemon checks against the token the browser presented. A compromised
ucvd-web therefore holds no power of its own beyond reading statuses: to stop a camera, or
to see a picture of what one shows, it needs a user's token, and the daemon logs whose.

The tokens live in memory as a dict from SHA-256 to holder (read once at start, written
through to the store), so checking one costs a hash and a lookup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import msgspec
import structlog

from ucvd.api import protocol as p
from ucvd.api.jsonrpc import Request, RpcError, decode_params
from ucvd.control.handlers import method
from ucvd.control.server import Connection, Method
from ucvd.control.views import iso
from ucvd.domain import tokens
from ucvd.domain.refusals import AlreadyExists, Forbidden, Invalid, NotFound, Unauthorized
from ucvd.state.store import AsyncStore, Conflict, Store, TokenRecord

log = structlog.get_logger(__name__)

_RANK = {"viewer": 0, "operator": 1}


class TokenBook:
    def __init__(
        self,
        store: AsyncStore,
        saved: list[TokenRecord],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._clock = clock
        self._by_digest = {t.digest: t for t in saved}
        self._methods: Mapping[str, Method] = {}

    def methods(self) -> dict[str, Method]:
        return {
            "token.create": method(p.TokenCreate, self.create),
            "token.list": method(p.NoParams, self.list),
            "token.revoke": method(p.TokenRef, self.revoke),
            "token.verify": method(p.TokenVerify, self.verify),
            "token.act": method(p.TokenAct, self.act),
        }

    def serve(self, methods: Mapping[str, Method]) -> None:
        """The methods `token.act` calls through (the daemon's whole table)."""
        self._methods = methods

    def holder(self, secret: str) -> TokenRecord:
        if len(secret) > tokens.MAX_TOKEN_CHARS or not secret.startswith(tokens.PREFIX):
            raise Unauthorized("not a ucvd access token")
        record = self._by_digest.get(tokens.digest(secret))
        if record is None or not tokens.same_digest(record.digest, tokens.digest(secret)):
            raise Unauthorized("unknown or revoked access token")
        return record

    async def create(self, params: p.TokenCreate, _conn: Connection) -> p.TokenCreated:
        try:
            name = tokens.check_name(params.name)
        except tokens.BadTokenName as exc:
            raise Invalid(str(exc)) from None
        if any(t.name == name for t in self._by_digest.values()):
            raise AlreadyExists(f"a token named {name} already exists; revoke it first")
        secret = tokens.new_secret()
        record = TokenRecord(
            name=name, kind=params.kind, digest=tokens.digest(secret), created_at=self._clock()
        )
        try:
            await self.store.call(Store.add_token, record)
        except Conflict:
            raise AlreadyExists(f"a token named {name} already exists; revoke it first") from None
        self._by_digest[record.digest] = record
        log.info("access token created", token_name=name, kind=record.kind)
        return p.TokenCreated(
            name=name, kind=record.kind, token=secret, created_at=iso(record.created_at) or ""
        )

    async def list(self, _params: p.NoParams, _conn: Connection) -> p.TokenList:
        held = sorted(self._by_digest.values(), key=lambda t: t.name)
        return p.TokenList(
            items=[
                p.TokenView(name=t.name, kind=t.kind, created_at=iso(t.created_at) or "")
                for t in held
            ]
        )

    async def revoke(self, params: p.TokenRef, _conn: Connection) -> p.Done:
        record = next((t for t in self._by_digest.values() if t.name == params.name), None)
        if record is None:
            raise NotFound(f"no token named {params.name[:80]!r} (see `ucvctl token list`)")
        await self.store.call(Store.remove_token, record.name)
        self._by_digest.pop(record.digest, None)
        log.info("access token revoked", token_name=record.name)
        return p.Done()

    async def verify(self, params: p.TokenVerify, _conn: Connection) -> p.TokenHolder:
        record = self.holder(params.token)
        return p.TokenHolder(name=record.name, kind=record.kind)

    async def act(self, params: p.TokenAct, conn: Connection) -> object:
        record = self.holder(params.token)
        least = p.DELEGABLE.get(params.method)
        target = self._methods.get(params.method)
        if least is None or target is None or _RANK[record.kind] < _RANK[least]:
            # Worth a line: a page does not offer what a token may not do, so someone tried.
            log.warning(
                "refused an access token",
                token_name=record.name,
                kind=record.kind,
                method=params.method[:80],
            )
            if least is None or target is None:
                raise Forbidden(f"{params.method[:80]} cannot be called with an access token")
            raise Forbidden(f"token {record.name} is read-only ({record.kind}): "
                            f"{params.method} needs an operator token")  # fmt: skip
        inner = Request(jsonrpc="2.0", method=params.method, params=params.params, id=None)
        call_params = decode_params(inner, target.params)
        if params.method == "camera.still":  # pictures are not changes: not worth a line each
            return await target.call(call_params, conn)
        audit = log.bind(token_name=record.name, method=params.method, params=_summary(call_params))
        try:
            result = await target.call(call_params, conn)
        except RpcError as exc:
            audit.info("acting for an access token", outcome=exc.kind or "refused")
            raise
        audit.info("acting for an access token", outcome="done")
        return result


def _summary(params: object) -> dict[str, object]:
    """What the audit line says of a call: its names, never a secret."""
    if not isinstance(params, msgspec.Struct):
        return {}
    fields = msgspec.structs.asdict(params)
    return {k: v for k, v in fields.items() if k in ("camera_id", "id", "name", "subnet")}
