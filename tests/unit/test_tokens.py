"""The dashboard's access tokens: how they are made and kept (only as a SHA-256), and what
`token.act` lets their holders do, with a real store on a temporary file."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
from structlog.testing import capture_logs

from ucvd.api import protocol as p
from ucvd.api.jsonrpc import Code, RpcError
from ucvd.control.handlers import method
from ucvd.control.server import AccessPolicy, Caller, Connection, Method
from ucvd.control.tokens import TokenBook
from ucvd.domain import tokens
from ucvd.domain.refusals import NotPublishing, Unauthorized
from ucvd.state.store import AsyncStore, Store

pytestmark = pytest.mark.anyio

NO_CONNECTION = cast(Connection, None)  # neither the book nor the fake methods look at it


# --- making tokens ------------------------------------------------------------------------
def test_secrets_are_prefixed_unique_and_carry_at_least_256_bits() -> None:
    made = [tokens.new_secret() for _ in range(200)]
    assert len(set(made)) == len(made)
    for secret in made:
        assert secret.startswith(tokens.PREFIX)
        body = secret.removeprefix(tokens.PREFIX)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", body), body  # URL-safe base64, no padding
        assert len(body) * 6 >= 256  # six bits a base64 character
        assert len(secret) <= tokens.MAX_TOKEN_CHARS  # a made token is one the book accepts
    # Random bytes, not a counter or a clock: no character position is the same in all.
    assert all(len({s[i] for s in made}) > 1 for i in range(len(tokens.PREFIX), 30))


def test_the_digest_is_the_secrets_sha256_in_hex() -> None:
    secret = tokens.new_secret()
    assert tokens.digest(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", tokens.digest(secret))
    assert tokens.digest(secret) != tokens.digest(secret + "x")
    assert tokens.same_digest(tokens.digest(secret), tokens.digest(secret))
    assert not tokens.same_digest(tokens.digest(secret), tokens.digest(secret + "x"))


@pytest.mark.parametrize("name", ["alice", "lobby-wall", "a", "ops@site.1", "x_y", "9" * 64])
def test_good_token_names(name: str) -> None:
    assert tokens.check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-alice", ".hidden", "@x", "two words", "a/b", "é", "a:b", "x" * 65, "a\n"]
)
def test_bad_token_names(name: str) -> None:
    with pytest.raises(tokens.BadTokenName, match="token name"):
        tokens.check_name(name)


# --- the book -----------------------------------------------------------------------------
class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def book_on(path: Path) -> TokenBook:
    """A book as the daemon builds one: what the store holds, read at start."""
    store = AsyncStore(Store(path))
    return TokenBook(store, await store.call(Store.tokens), clock=Clock())


async def call(book: TokenBook, name: str, params: msgspec.Struct) -> Any:
    """One of the book's methods as the socket calls it (refusals become RPC errors)."""
    return await book.methods()[name].call(params, NO_CONNECTION)


async def refused(call: Awaitable[Any]) -> RpcError:
    with pytest.raises(RpcError) as raised:
        await call
    return raised.value


async def create(book: TokenBook, name: str, kind: p.TokenKindName = "operator") -> str:
    made: p.TokenCreated = await call(book, "token.create", p.TokenCreate(name=name, kind=kind))
    assert (made.name, made.kind) == (name, kind)
    return made.token


def stored_bytes(path: Path) -> bytes:
    """Everything SQLite wrote: the database and its write-ahead log."""
    return b"".join(f.read_bytes() for f in sorted(path.parent.glob(path.name + "*")))


async def test_the_secret_is_shown_once_and_the_store_keeps_only_its_digest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ucvd.db"
    book = await book_on(path)
    secret = await create(book, "alice")
    listed: p.TokenList = await call(book, "token.list", p.NoParams())
    assert [(t.name, t.kind, t.created_at) for t in listed.items] == [
        ("alice", "operator", "2027-01-15T08:00:00.000Z")
    ]
    assert secret not in msgspec.json.encode(listed).decode()
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT name, kind, digest FROM access_tokens").fetchall()
    conn.close()
    assert rows == [("alice", "operator", tokens.digest(secret))]
    on_disk = stored_bytes(path)
    assert tokens.digest(secret).encode() in on_disk  # the search below can find a row
    assert secret.encode() not in on_disk
    assert secret.removeprefix(tokens.PREFIX).encode() not in on_disk


async def test_a_second_token_of_the_same_name_is_refused(tmp_path: Path) -> None:
    book = await book_on(tmp_path / "ucvd.db")
    first = await create(book, "alice")
    again = await refused(call(book, "token.create", p.TokenCreate(name="alice")))
    assert again.kind == "already_exists" and "revoke it first" in again.message
    bad = await refused(call(book, "token.create", p.TokenCreate(name="two words")))
    assert bad.kind == "invalid_argument"
    held: p.TokenHolder = await call(book, "token.verify", p.TokenVerify(token=first))
    assert held.name == "alice"  # the refused ones replaced nothing
    listed: p.TokenList = await call(book, "token.list", p.NoParams())
    assert [t.name for t in listed.items] == ["alice"]


async def test_verify_names_the_holder_and_refuses_anything_else(tmp_path: Path) -> None:
    book = await book_on(tmp_path / "ucvd.db")
    alice = await create(book, "alice")
    wall = await create(book, "wall", "viewer")
    for secret, name, kind in ((alice, "alice", "operator"), (wall, "wall", "viewer")):
        held: p.TokenHolder = await call(book, "token.verify", p.TokenVerify(token=secret))
        assert (held.name, held.kind) == (name, kind)
    await call(book, "token.revoke", p.TokenRef(name="wall"))
    unknown = tokens.new_secret()
    overlong = alice + "x" * (tokens.MAX_TOKEN_CHARS - len(alice) + 1)
    for presented in (
        wall,  # revoked
        unknown,
        alice.removeprefix(tokens.PREFIX),  # the random part alone
        overlong,  # starts with a good token, but is longer than any token
        alice[:-1],
        "",
    ):
        error = await refused(call(book, "token.verify", p.TokenVerify(token=presented)))
        assert error.kind == "unauthorized", presented
        assert alice not in error.message and wall not in error.message
    # The book itself refuses the overlong one: the wire limit is not all that stops it.
    with pytest.raises(Unauthorized, match="not a ucvd access token"):
        book.holder(overlong)
    gone = await refused(call(book, "token.revoke", p.TokenRef(name="wall")))
    assert gone.kind == "not_found"


async def test_a_book_read_back_from_the_store_knows_the_same_tokens(tmp_path: Path) -> None:
    """What a restarted daemon sees: created and revoked tokens as they were left."""
    path = tmp_path / "ucvd.db"
    book = await book_on(path)
    kept, dropped = await create(book, "alice"), await create(book, "bob", "viewer")
    await call(book, "token.revoke", p.TokenRef(name="bob"))
    again = await book_on(path)
    held: p.TokenHolder = await call(again, "token.verify", p.TokenVerify(token=kept))
    assert (held.name, held.kind) == ("alice", "operator")
    error = await refused(call(again, "token.verify", p.TokenVerify(token=dropped)))
    assert error.kind == "unauthorized"
    listed: p.TokenList = await call(again, "token.list", p.NoParams())
    assert [(t.name, t.kind) for t in listed.items] == [("alice", "operator")]
    # The name of a revoked token is free again.
    await create(again, "bob", "viewer")


# --- acting for a token's holder -----------------------------------------------------------
class Recorder:
    """Every protocol method, each recording what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def table(self) -> dict[str, Method]:
        return {name: method(params, self._handler(name)) for name, params in p.PARAMS.items()}

    def _handler(self, name: str) -> Callable[[Any, Connection], Awaitable[Any]]:
        async def handle(params: object, _conn: Connection) -> dict[str, str]:
            self.calls.append((name, params))
            return {"answered": name}

        return handle


async def acting_book(tmp_path: Path) -> tuple[TokenBook, Recorder, str, str]:
    book = await book_on(tmp_path / "ucvd.db")
    fake = Recorder()
    book.serve(fake.table())
    return book, fake, await create(book, "alice"), await create(book, "wall", "viewer")


def act(token: str, name: str, params: bytes = b"{}") -> p.TokenAct:
    return p.TokenAct(token=token, method=name, params=msgspec.Raw(params))


async def test_act_calls_the_method_with_its_decoded_params(tmp_path: Path) -> None:
    book, fake, operator, viewer = await acting_book(tmp_path)
    answer = await call(
        book, "token.act", act(operator, "publishing.stop", b'{"camera_id":"gate"}')
    )
    assert answer == {"answered": "publishing.stop"}
    answer = await call(book, "token.act", act(viewer, "camera.still", b'{"camera_id":"hall"}'))
    assert answer == {"answered": "camera.still"}
    assert fake.calls == [
        ("publishing.stop", p.PublishRef(camera_id="gate")),
        ("camera.still", p.StillQuery(camera_id="hall")),
    ]


async def test_a_viewer_token_may_look_but_not_act(tmp_path: Path) -> None:
    book, fake, operator, viewer = await acting_book(tmp_path)
    for name in ("publishing.stop", "publishing.start", "camera.add", "target.activate"):
        error = await refused(call(book, "token.act", act(viewer, name, b'{"camera_id":"x"}')))
        assert error.kind == "permission_denied", name
        assert "wall" in error.message and viewer not in error.message
    assert fake.calls == []
    await call(book, "token.act", act(operator, "publishing.stop", b'{"camera_id":"x"}'))
    assert [name for name, _ in fake.calls] == ["publishing.stop"]


@pytest.mark.parametrize(
    "name", ["token.create", "token.revoke", "camera.remove", "config.apply", "daemon.reload"]
)
async def test_what_is_not_delegable_is_refused_even_to_an_operator(
    tmp_path: Path, name: str
) -> None:
    assert name in p.PARAMS and name not in p.DELEGABLE
    book, fake, operator, _viewer = await acting_book(tmp_path)
    error = await refused(call(book, "token.act", act(operator, name)))
    assert error.kind == "permission_denied"
    assert "cannot be called with an access token" in error.message
    assert fake.calls == []


async def test_a_delegable_method_the_daemon_lacks_is_refused(tmp_path: Path) -> None:
    book, fake, operator, _viewer = await acting_book(tmp_path)
    book.serve({"camera.still": fake.table()["camera.still"]})
    error = await refused(call(book, "token.act", act(operator, "publishing.stop")))
    assert error.kind == "permission_denied" and fake.calls == []


async def test_act_checks_the_token_and_the_inner_params_before_calling(tmp_path: Path) -> None:
    book, fake, operator, _viewer = await acting_book(tmp_path)
    unknown = await refused(
        call(book, "token.act", act(tokens.new_secret(), "camera.still", b'{"camera_id":"x"}'))
    )
    assert unknown.kind == "unauthorized"
    extra = b'{"camera_id":"x","password":"hunter2"}'
    bad = await refused(call(book, "token.act", act(operator, "publishing.stop", extra)))
    assert bad.code == Code.INVALID_PARAMS and "password" in bad.message
    missing = await refused(call(book, "token.act", act(operator, "publishing.stop")))
    assert missing.code == Code.INVALID_PARAMS and "camera_id" in missing.message
    assert fake.calls == []


async def test_the_audit_line_names_the_holder_never_the_token(tmp_path: Path) -> None:
    book, _fake, operator, _viewer = await acting_book(tmp_path)
    with capture_logs() as lines:
        await call(book, "token.act", act(operator, "publishing.stop", b'{"camera_id":"gate"}'))
    [line] = [x for x in lines if x["event"] == "acting for an access token"]
    assert line["token_name"] == "alice" and line["method"] == "publishing.stop"
    assert line["params"] == {"camera_id": "gate"}
    assert line["outcome"] == "done"
    assert operator not in repr(lines)


async def test_the_audit_line_says_when_the_call_was_refused(tmp_path: Path) -> None:
    book = await book_on(tmp_path / "ucvd.db")
    operator = await create(book, "alice")

    async def refuse(_params: object, _conn: Connection) -> None:
        raise NotPublishing("camera 'gate' is not publishing")

    book.serve({"publishing.stop": method(p.PublishRef, refuse)})
    with capture_logs() as lines, pytest.raises(RpcError):
        await call(book, "token.act", act(operator, "publishing.stop", b'{"camera_id":"gate"}'))
    [line] = [x for x in lines if x["event"] == "acting for an access token"]
    assert line["outcome"] == "not_publishing"


# --- who may call what --------------------------------------------------------------------
def test_delegable_methods_exist_and_need_a_token_from_a_read_only_caller() -> None:
    assert set(p.DELEGABLE) <= set(p.PARAMS)
    assert set(p.DELEGABLE.values()) <= set(tokens.KINDS)
    # Anything token.act may do for a token's holder is something a read-only caller may not
    # do by itself, or the token would not be what stands in the way.
    assert not set(p.DELEGABLE) & p.READ_ONLY_METHODS
    assert p.DELEGABLE["camera.still"] == "viewer"
    assert {"token.act", "token.verify"} <= p.READ_ONLY_METHODS
    assert not {"token.create", "token.list", "token.revoke"} & p.READ_ONLY_METHODS
    policy = AccessPolicy(own_uid=999, operator_gid=998, read_only_uids=frozenset({1234}))
    web = Caller(pid=1, uid=1234, gid=998)
    assert not policy.may_call(web, "camera.still")
    assert policy.may_call(web, "token.act") and policy.may_call(web, "publishing.samples")
    assert policy.may_call(Caller(pid=1, uid=1000, gid=998), "camera.still")
