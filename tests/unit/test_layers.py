"""The layers of `ucvd/`, pinned: each package imports only the ones beneath it, and the
pure modules import no I/O at all. docs/architecture.md draws the same picture."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ucvd"

# What each layer may import, besides itself. Top-level modules (daemon, service, config,
# cli) wire the layers together and may import any of them.
ALLOWED: dict[str, set[str]] = {
    "version": set(),
    "domain": set(),
    "api": {"domain"},
    "relay": {"domain"},
    "state": {"domain", "relay"},
    "host": {"domain", "api"},
    "discovery": {"domain", "api", "relay"},  # ffprobe runs as the relay runs FFmpeg
    "control": {"domain", "api", "relay", "state"},
}
TOP = {"__init__", "cli", "config", "daemon", "service"}

# Sans I/O: events or bytes in, values out. They are tested without sockets, processes or
# an event loop, and must stay that way.
PURE = {
    "ucvd.domain.audio",
    "ucvd.domain.errors",
    "ucvd.domain.model",
    "ucvd.domain.refusals",
    "ucvd.domain.siteplan",
    "ucvd.domain.validation",
    "ucvd.domain.urls",
    "ucvd.domain.quality",
    "ucvd.domain.hints",
    "ucvd.api.jsonrpc",
    "ucvd.api.protocol",
    "ucvd.relay.backoff",
    "ucvd.relay.publication",
    "ucvd.relay.status",
    "ucvd.relay.watchdog",
    "ucvd.relay.ffmpeg.argv",
    "ucvd.relay.ffmpeg.inputs",
    "ucvd.relay.ffmpeg.classify",
    "ucvd.relay.ffmpeg.lines",
    "ucvd.relay.ffmpeg.progress",
    "ucvd.state.history",
    "ucvd.state.tally",
    "ucvd.control.views",
}
IO = {"anyio", "httpx", "sqlalchemy", "sdnotify", "asyncio", "socket", "subprocess", "threading"}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts)] = path
    return found


def imports_of(path: Path) -> set[str]:
    """Every module an import statement names, wherever it sits (functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from ucvd.api import protocol` imports a module, not a name
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def layer(module: str) -> str:
    parts = module.split(".")
    return "top" if len(parts) == 2 and parts[1] in TOP else parts[1]


def test_every_module_belongs_to_a_known_layer() -> None:
    unknown = sorted(m for m in modules() if layer(m) not in ALLOWED and layer(m) != "top")
    assert unknown == [], f"place these in a layer (and in this test's table): {unknown}"


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_point_inward(module: str) -> None:
    here = layer(module)
    if here == "top":
        return
    allowed = ALLOWED[here] | {here}
    known = modules()
    outward = sorted(
        name
        for name in imports_of(known[module])
        if name in known and layer(name) not in allowed and layer(name) != "version"
    )
    assert outward == [], f"{module} ({here}) reaches out to {outward}"


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_modules_do_no_io(module: str) -> None:
    found = sorted(n for n in imports_of(modules()[module]) if n.split(".")[0] in IO)
    assert found == [], f"{module} is sans I/O, yet imports {found}"


def test_pure_modules_load_no_io_library_at_all() -> None:
    """What they import, and what that imports in turn: one interpreter per module."""
    code = (
        "import importlib, sys; importlib.import_module(sys.argv[1]); "
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(IO)!r})))"
    )
    loaded = {}
    for module in sorted(PURE):
        out = subprocess.run(
            [sys.executable, "-c", code, module], capture_output=True, text=True, check=True
        )
        if out.stdout.strip():
            loaded[module] = out.stdout.strip()
    assert loaded == {}


def test_the_layer_table_names_real_modules() -> None:
    assert PURE - set(modules()) == set()
    layers = {layer(m) for m in modules()}
    assert set(ALLOWED) <= layers


def test_loading_the_configuration_pulls_in_no_engine() -> None:
    """Reading the TOML settings needs neither anyio nor httpx nor the database."""
    code = (
        "import sys, ucvd.config; "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('anyio', 'httpx', 'sqlalchemy', 'structlog') or m == 'ucvd.relay.supervisor')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
