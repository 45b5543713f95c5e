"""Fuzzing a real ucvd over its real Unix socket: whatever arrives, the daemon answers every
complete line with a valid JSON-RPC response, never an internal error, in order, and keeps
serving everyone else.

Hypothesis drives it, derandomized and bounded by `max_examples`, so a run is repeatable
and a failure prints the batch of lines that caused it. Each example writes a few items
(well-formed requests with schema-aware or random params, notifications, raw bytes,
mutated requests, deep nesting, overlong lines, invalid UTF-8), cut into arbitrary write
chunks, then a sentinel request; the replies read up to the sentinel's are matched to the
items. Everything the daemon might reach stays on loopback: every URL the fuzzer makes
valid points at 127.0.0.1:1, where nothing listens.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.harness.daemon import Ucvd
from tests.harness.procs import ProcessRegistry
from tests.harness.waiting import wait_until
from ucvd.api import protocol as p

LIMIT = 65_536  # the fuzzed daemon's max_message_bytes: overlong lines stay cheap to send
MAX_CONNECTIONS = 32
# The idle timeout is the default's order: the fuzzing and witness connections pause while
# Hypothesis generates or a busy machine stalls them, and a short one ended them (a CI run
# lost its fuzzing connection after 109 examples). Half-sent lines are ended by the line
# timeout, abandoned connections close themselves: neither needs it.
FUZZ_SETTINGS = {
    "daemon": {"max_message_bytes": LIMIT, "max_connections": MAX_CONNECTIONS,
               "idle_timeout_s": 120.0},
}  # fmt: skip
NOWHERE = "127.0.0.1:1"  # loopback, and nothing listens: probes, checks and relays fail fast
STANDARD_ERRORS = {-32700, -32600, -32601, -32602}
FORBIDDEN_IN_LOG = ("Traceback", "method failed", "connection dropped", "could not be decoded")


@pytest.fixture
def fuzzed(registry: ProcessRegistry, tmp_path: Path) -> Iterator[Ucvd]:
    daemon = Ucvd(registry, tmp_path / "ucvd", settings=FUZZ_SETTINGS).start()
    yield daemon
    assert daemon.proc is not None and daemon.proc.alive(), "the daemon died"
    code, _ = daemon.terminate()
    assert code == 0
    log = daemon.log_text()
    for text in FORBIDDEN_IN_LOG:
        assert text not in log, f"{text!r} in the daemon's log:\n{log[-3000:]}"


def check_message(message: Any) -> None:
    """A JSON-RPC 2.0 response (exactly one of result and error, an id) or a notification,
    and never an internal error: that would mean a handler failed on this input."""
    assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", message
    if "method" in message:
        assert set(message) == {"jsonrpc", "method", "params"}, message
        return
    assert set(message) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}), message
    assert message["id"] is None or isinstance(message["id"], int | str), message
    error = message.get("error")
    if error is not None:
        assert set(error) <= {"code", "message", "data"} and isinstance(error["message"], str)
        code = error["code"]
        assert code in STANDARD_ERRORS or -32099 <= code <= -32000, message
        if "data" in error:
            assert set(error["data"]) == {"kind"} and isinstance(error["data"]["kind"], str)


class Wire:
    """One raw connection to the daemon's socket."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buffer = b""

    def send(self, data: bytes, cuts: list[int] = []) -> None:  # noqa: B006 - never mutated
        edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
        for start, end in itertools.pairwise(edges):
            self.sock.sendall(data[start:end])

    def message(self) -> Any:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "the daemon closed the connection"
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        decoded = json.loads(line.decode("utf-8"))  # valid UTF-8 and valid JSON, or fail
        check_message(decoded)
        return decoded

    def replies_until(self, sentinel: int | str) -> list[dict[str, Any]]:
        """Every response up to and including the sentinel's (notifications are checked
        and set aside: a fuzzed events.subscribe may have turned them on)."""
        replies: list[dict[str, Any]] = []
        while True:
            message = self.message()
            if "method" in message:
                continue
            replies.append(message)
            if message["id"] == sentinel:
                return replies

    def close(self) -> None:
        self.sock.close()


# --- what the fuzzer sends ------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One line and what must come back for it: exactly one reply with `id` ("reply"),
    nothing ("none"), or at most one ("maybe": garbage, or a request mutated at random)."""

    line: bytes
    expect: str
    id: int | str | None = None


def envelope(method: Any, params: Any, id_: Any = None, *, with_id: bool = True) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not _ABSENT:
        message["params"] = params
    if with_id:
        message["id"] = id_
    return json.dumps(message, allow_nan=False).encode()


_ABSENT = object()
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
ids_ = st.sampled_from(["cam-0", "cam-1", "CAM-1", "t0"]) | st.sampled_from(
    ["../x", "a/b", "", "cam\u0435", "x" * 70]
)
URLS = [f"rtsp://{NOWHERE}/s", f"rtsp://u:pw@{NOWHERE}/s", f"rtsps://{NOWHERE}/s",
        f"rtsp://{NOWHERE}/s?password=x", "file:///etc/passwd", "concat:a|b", "pipe:0",
        f"http://{NOWHERE}/s", f"rtsp://{NOWHERE}/s\n-i x", "rtsp://[::1/s"]  # fmt: skip
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": ids_ | st.text(max_size=10),
    "camera_id": ids_,
    "name": ids_ | st.text(max_size=10),
    "url": st.sampled_from(URLS) | st.text(max_size=20),
    "rtsp_url": st.sampled_from(URLS),
    "api_url": st.sampled_from([None, f"http://{NOWHERE}", "file:///x", f"http://u:p@{NOWHERE}"]),
    "player_url": st.sampled_from(
        [None, "", f"http://{NOWHERE}/", "javascript:x", f"http://u:p@{NOWHERE}/", "http://h/<"]
    ),
    "path_template": st.sampled_from(
        ["camera_{camera_id}", "{camera_id}", "../{camera_id}", "{x}", "a//{camera_id}"]
    ),
    "camera_ids": st.none() | st.lists(ids_, max_size=3),
    "options": st.fixed_dictionaries(
        {},
        optional={
            "audio": st.booleans(),
            "transport": st.sampled_from(["tcp", "udp", "x"]),
            "max_reconnects": st.none() | st.integers(-1, 3),
            "bogus": st.just(1),
        },
    ),
    "max_reconnects": st.integers(-1, 2**64),
    "reconnect_delay": st.floats(allow_nan=False, allow_infinity=False),
}


def params_for(method: str) -> st.SearchStrategy[Any]:
    """Schema-aware params (the method's own fields, with values near and past the edges,
    sometimes an unknown one), or anything at all."""
    struct = p.PARAMS.get(method)
    if struct is None:
        return json_values
    fields = msgspec.structs.fields(struct)
    shaped = st.fixed_dictionaries(
        {f.name: FIELD_VALUES.get(f.name, json_values) for f in fields if f.required},
        optional={f.name: FIELD_VALUES.get(f.name, json_values) for f in fields if not f.required},
    )
    typo = shaped.map(lambda params: {**params, "zz_unknown": 1})
    return st.one_of(shaped, shaped, shaped, typo, json_values, st.just(_ABSENT))


methods = st.sampled_from(sorted(p.PARAMS)) | st.sampled_from(
    ["", "camera.Add", "camera.add ", "__init__", "daemon", "rpc.discover"]
) | st.text(max_size=10)  # fmt: skip


# Calls that succeed (or fail in the domain) and so reach deep: a target and cameras on
# loopback, publishing (FFmpeg spawned, refused at 127.0.0.1:1, retried), probes, checks,
# events, removal. Mixed with the random ones, they give the fuzz a daemon with state.
KNOWN_GOOD: list[tuple[str, dict[str, Any]]] = [
    ("target.add", {"name": "t0", "rtsp_url": f"rtsp://{NOWHERE}", "api_url": f"http://{NOWHERE}",
                    "username": "u", "password": "pw", "reconnect_delay": 0.5}),
    ("camera.add", {"id": "cam-0", "url": f"rtsp://{NOWHERE}/s", "username": "u",
                    "password": "pw"}),
    ("camera.add", {"id": "cam-1", "url": f"rtsp://u:pw@{NOWHERE}/s?password=x"}),
    ("camera.update", {"id": "cam-1", "name": "Gate", "options": {"audio": False}}),
    ("publishing.start", {"camera_id": "cam-0"}),
    ("publishing.start", {"camera_id": "cam-1", "force_restart": True}),
    ("publishing.restart", {"camera_id": "cam-0"}),
    ("publishing.stop", {"camera_id": "cam-1"}),
    ("publishing.status", {}),
    ("publishing.history", {"camera_id": "cam-0", "limit": 3}),
    ("publishing.logs", {"camera_id": "cam-0", "lines": 5}),
    ("camera.probe", {"id": "cam-0"}),
    ("target.check", {"name": "t0"}),
    ("target.activate", {"name": "t0"}),
    ("events.subscribe", {"camera_ids": ["cam-0"]}),
    ("camera.remove", {"id": "cam-1"}),
    ("daemon.reload", {}),
    ("daemon.info", {}),
]  # fmt: skip


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, Any]:
    if draw(st.integers(0, 3)) == 0:
        known: tuple[str, Any] = draw(st.sampled_from(KNOWN_GOOD))
        return known
    method = draw(methods)
    return method, draw(params_for(method))


def one_line(data: bytes) -> bytes:
    return data.replace(b"\n", b" ")


INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x80"]


@st.composite
def garbage(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "nested", "utf8", "huge", "surrogate", "json"]))
    if kind == "bytes":
        return one_line(draw(st.binary(max_size=80)))
    if kind == "nested":
        depth = draw(st.integers(1, 5_000))
        nest = "[" * depth + "]" * depth
        slot = draw(st.sampled_from(["id", "params", "method", "top", "field"]))
        return {
            "id": f'{{"jsonrpc":"2.0","method":"camera.get","id":{nest}}}',
            "params": f'{{"jsonrpc":"2.0","method":"camera.get","params":{nest},"id":null}}',
            "method": f'{{"jsonrpc":"2.0","method":{nest}}}',
            "top": nest,
            "field": f'{{"jsonrpc":"2.0","method":"camera.add","params":{{"url":{nest}}}}}',
        }[slot].encode()
    if kind == "utf8":
        bad = draw(st.sampled_from(INVALID_UTF8))
        return b'{"jsonrpc":"2.0","method":"camera.get","params":{"id":"c' + bad + b'"}}'
    if kind == "huge":
        return b'{"jsonrpc":"2.0","method":"camera.get","params":{"id":"' + b"a" * LIMIT + b'"}}'
    if kind == "surrogate":
        return b'{"jsonrpc":"2.0","method":"camera.get\\ud800","id":"\\udc00x"}'
    return one_line(json.dumps(draw(json_values)).encode())


@st.composite
def items(draw: st.DrawFn) -> Item:
    """One line to send; ids are placeholders (0) numbered uniquely by the batch."""
    kind = draw(st.sampled_from(["request", "request", "notification", "garbage", "mutated"]))
    if kind == "garbage":
        return Item(draw(garbage()), "maybe")
    method, params = draw(requests())
    if kind == "notification":
        return Item(one_line(envelope(method, params, with_id=False)), "none")
    line = one_line(envelope(method, params, "{ID}"))
    if kind == "request":
        return Item(line, "reply", "{ID}")
    at = draw(st.integers(0, max(len(line) - 1, 0)))
    mutation = draw(st.sampled_from(["truncate", "flip", "invalid_utf8", "drop", "double"]))
    mutated = {
        "truncate": line[:at],
        "flip": line[:at] + bytes([line[at] ^ (1 << draw(st.integers(0, 7)))]) + line[at + 1 :],
        "invalid_utf8": line[:at] + draw(st.sampled_from(INVALID_UTF8)) + line[at:],
        "drop": line[:at] + line[at + 1 :],
        "double": line[:at] + line[at:] + line[at:],
    }[mutation]
    return Item(one_line(mutated), "maybe", "{ID}")


class Numbering:
    """Unique ids across the whole run, alternately integers and strings."""

    def __init__(self) -> None:
        self.n = 0

    def number(self, batch: list[Item]) -> list[Item]:
        out = []
        for item in batch:
            self.n += 1
            ident: int | str = self.n if self.n % 2 else f"r{self.n}"
            placeholder = b'"{ID}"'
            line = item.line.replace(placeholder, json.dumps(ident).encode(), 1)
            out.append(Item(line, item.expect, ident if item.id is not None else None))
        return out


def match(batch: list[Item], replies: list[dict[str, Any]]) -> None:
    """Replies come in the order of the lines: pair them up, or fail saying where. A
    mutated line may have lost its id or had it changed, so its reply may carry any id but
    one that a later line is owed."""
    rest = list(replies)
    for n, item in enumerate(batch):
        head = rest[0] if rest else None
        owed = {later.id for later in batch[n + 1 :] if later.expect == "reply"}
        if item.expect == "reply":
            assert head is not None and head["id"] == item.id, (item, head)
            rest.pop(0)
        elif item.expect == "maybe" and head is not None and head["id"] not in owed:
            rest.pop(0)
    assert not rest, f"replies nobody asked for: {rest}"


def test_fuzzed_json_rpc_gets_one_valid_answer_per_line_in_order(fuzzed: Ucvd) -> None:
    wire = Wire(fuzzed.socket)
    numbering = Numbering()
    sent = {"lines": 0, "examples": 0}
    seen: set[int | str] = set()  # error codes and "result": proof the handlers were reached

    @settings(
        max_examples=500, derandomize=True, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )  # fmt: skip
    @given(batch=st.lists(items(), min_size=1, max_size=6), cuts=st.lists(st.integers(0, 1 << 20)))
    @example(  # the line that ended the daemon before the decoder caught RecursionError
        batch=[Item(b'{"jsonrpc":"2.0","method":"x","id":' + b"[" * 5_000 + b"]" * 5_000
                    + b"}", "maybe")], cuts=[],
    )  # fmt: skip
    def one_batch(batch: list[Item], cuts: list[int]) -> None:
        numbered = numbering.number(batch)
        sentinel = f"sentinel-{numbering.n}"
        data = b"".join(item.line + b"\n" for item in numbered)
        data += envelope("daemon.health", {}, sentinel) + b"\n"
        wire.send(data, cuts)
        replies = wire.replies_until(sentinel)
        assert replies[-1].get("result", {}).get("healthy") in (True, False)
        match(numbered, replies[:-1])
        seen.update(r["error"]["code"] if "error" in r else "result" for r in replies[:-1])
        sent["lines"] += len(batch) + 1
        sent["examples"] += 1

    try:
        one_batch()
    finally:
        wire.close()
    assert sent["examples"] >= 500 and sent["lines"] > 1000, sent
    assert {"result", -32700, -32600, -32601, -32602, -32000} <= seen, seen
    # A request that is not a notification always gets its answer, even after all that.
    assert fuzzed.ctl_json("info")["pid"] == fuzzed.pid
    for camera_id in [c["id"] for c in fuzzed.ctl_json("camera", "list")["items"]]:
        fuzzed.ctl("stop", camera_id)  # whatever the fuzzer started, before the leak check


def fd_count(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def test_thousands_of_abandoned_connections_never_starve_a_working_client(fuzzed: Ucvd) -> None:
    """3000 connections opened and abandoned in every way (closed at once, closed halfway
    through a line, closed after requests without reading the replies, closed after a line
    without its newline), eight at a time, while one client on its own connection calls
    between every fifty: each of its calls is answered. Ten more connections stop halfway
    through a line and stay open: the daemon tells them so and hangs up. Afterwards every slot
    and every file descriptor is given back: the full connection limit serves again."""
    baseline = fd_count(fuzzed.pid)
    request = envelope("publishing.status", {}, 1) + b"\n"
    styles: list[Callable[[socket.socket], None]] = [
        lambda s: None,
        lambda s: s.sendall(request[: len(request) // 2]),
        lambda s: s.sendall(request * 20),
        lambda s: s.sendall(b'{"jsonrpc":"2.0","method":"daemon.info","id":1}'),  # no newline
        lambda s: s.sendall(b"\xff" * 100 + b"\n" + request * 20),
    ]
    failures: list[BaseException] = []

    def abandon(i: int) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            try:
                s.connect(str(fuzzed.socket))
                styles[i % len(styles)](s)
            except OSError as exc:  # EPIPE if the daemon already answered and hung up
                failures.append(exc)

    held = [Wire(fuzzed.socket, timeout=10) for _ in range(10)]
    for wire in held:
        wire.send(request[:20])  # half a line, then silence
    witness = Wire(fuzzed.socket, timeout=10)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for batch in range(60):
            jobs = [pool.submit(abandon, batch * 50 + i) for i in range(50)]
            witness.send(envelope("daemon.health", {}, batch) + b"\n")
            assert witness.replies_until(batch)[-1]["result"]["counts"]["cameras"] == 0
            for job in jobs:
                job.result(timeout=60)  # one that raised or hung fails the test here
    assert not [f for f in failures if not isinstance(f, BrokenPipeError)], failures[:3]
    for wire in held:  # told and hung up on (the line timeout), not left to hold a slot
        told = wire.message()
        assert told["id"] is None and told["error"]["data"]["kind"] == "too_slow", told
        assert wire.sock.recv(1) == b""
        wire.close()

    def all_slots_serve() -> bool:
        wires = [Wire(fuzzed.socket, timeout=10) for _ in range(MAX_CONNECTIONS - 1)]
        try:
            for i, w in enumerate(wires):
                w.send(envelope("daemon.health", {}, i) + b"\n")
            return all("result" in w.replies_until(i)[-1] for i, w in enumerate(wires))
        finally:
            for w in wires:
                w.close()

    # Every slot but the witness's answers, and the daemon holds no more descriptors.
    wait_until(all_slots_serve, timeout=20, what="every connection slot to be free again")
    witness.close()
    wait_until(
        lambda: fd_count(fuzzed.pid) <= baseline,
        timeout=10,
        what=lambda: f"file descriptors back to {baseline} (now {fd_count(fuzzed.pid)})",
    )
