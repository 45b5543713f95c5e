"""`ucvctl apply -f`, `diff -f` and `export`: configuration as code, on the client's side.

The daemon plans and applies (`config.apply`, all or nothing, under its locks); this
reads the file (ucvctl.siteconfig), shows the plan, and applies exactly that plan: the
apply carries the dry run's fingerprint, so a state that changed in between is refused.

Exit codes, besides ucvctl's own (1 refused or failed, 2 usage, 3 unreachable): `diff`
exits 0 when there is nothing to change and 4 when there is (not 2, which is ucvctl's
usage error: a mistyped command must not read as "changes pending").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TypeVar

import msgspec

from ucvctl import siteconfig
from ucvctl.client import Client
from ucvd.api import protocol as p

EXIT_OK, EXIT_CHANGES = 0, 4
R = TypeVar("R")
APPLY_TIMEOUT_S = 600.0  # stopping and starting many FFmpegs takes a while


def site_file_arguments(c: argparse.ArgumentParser) -> None:
    """`apply` and `diff` (ucvctl.cli lists the commands)."""
    c.add_argument("-f", "--file", required=True, type=Path, help="the site file (TOML)")
    c.add_argument(
        "--prune", action="store_true", help="also remove cameras and targets it does not name"
    )


def export_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "--secrets-dir",
        default=siteconfig.DEFAULT_SECRETS_DIR,
        metavar="DIR",
        help=f"where the *_file lines point (default {siteconfig.DEFAULT_SECRETS_DIR})",
    )


def _call(client: Client, method: str, params: msgspec.Struct, result: type[R]) -> R:
    return msgspec.json.decode(client.call_raw(method, params), type=result)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _plan(args: argparse.Namespace, client: Client) -> tuple[p.ConfigApply, p.Plan]:
    site = siteconfig.load(args.file, os.environ)
    params = p.ConfigApply(desired=site, prune=args.prune, dry_run=True)
    client.settimeout(APPLY_TIMEOUT_S)
    return params, _call(client, "config.apply", params, p.Plan)


def diff(args: argparse.Namespace, client: Client, as_json: bool) -> int:
    _, plan = _plan(args, client)
    _out(msgspec.json.encode(plan).decode() if as_json else plan_text(plan))
    return EXIT_CHANGES if plan.changes else EXIT_OK


def apply(args: argparse.Namespace, client: Client, as_json: bool) -> int:
    params, plan = _plan(args, client)
    if not plan.changes:
        _out(msgspec.json.encode(plan).decode() if as_json else plan_text(plan))
        return EXIT_OK
    if not as_json:
        _out(plan_text(plan))
    final = msgspec.structs.replace(params, dry_run=False, expect=plan.fingerprint)
    done = _call(client, "config.apply", final, p.Plan)
    if as_json:
        _out(msgspec.json.encode(done).decode())
    else:
        restarted = ", ".join(done.restarted) or "none"
        _out(f"applied {_count(done)}; restarted: {restarted}")
    return EXIT_OK


def export(args: argparse.Namespace, client: Client) -> int:
    targets = _call(client, "target.list", p.NoParams(), p.TargetList)
    cameras = _call(client, "camera.list", p.NoParams(), p.CameraList)
    sys.stdout.write(siteconfig.render(targets, cameras, args.secrets_dir))
    sys.stdout.flush()
    return EXIT_OK


def _count(plan: p.Plan) -> str:
    n = len(plan.changes)
    return f"{n} change" + ("" if n == 1 else "s")


def plan_text(plan: p.Plan) -> str:
    if not plan.changes:
        return "no changes"
    lines = []
    for c in plan.changes:
        fields = f"  ({', '.join(c.fields)})" if c.fields else ""
        lines.append(f"  {c.kind:<9}{c.what:<7}{c.name}{fields}")
    return "\n".join([*lines, _count(plan)])
