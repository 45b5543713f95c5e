"""`ucvctl token create|list|revoke` (the dashboard's access tokens) and `ucvctl still`
(one picture of what a camera shows)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from ucvctl.client import Client
from ucvd.api import protocol as p

EXIT_OK = 0
STILL_TIMEOUT_S = 60.0  # two FFmpeg attempts of 12 s each, plus a queue behind others


def token_arguments(token: argparse.ArgumentParser) -> None:
    """`token` and `still` (ucvctl.cli lists the commands)."""
    verbs = token.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = verbs.add_parser("create", help="make a token; it is shown this once")
    c.add_argument("name", help="who or what holds it, e.g. alice or lobby-wall")
    c.add_argument(
        "--read-only",
        action="store_true",
        help="a viewer token: sees everything, changes nothing (wall displays)",
    )
    verbs.add_parser("list", help="every token's name, kind and creation time")
    c = verbs.add_parser("revoke", help="delete a token: its holder is logged out")
    c.add_argument("name")


def still_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("id")
    c.add_argument("-o", "--output", type=Path, required=True, help="the JPEG file to write")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def token(args: argparse.Namespace, client: Client, as_json: bool) -> int:
    if args.action == "create":
        kind: p.TokenKindName = "viewer" if args.read_only else "operator"
        params = p.TokenCreate(name=args.name, kind=kind)
        made = client.call("token.create", params, p.TokenCreated)
        if as_json:
            _out(msgspec.json.encode(made).decode())
        else:
            _out(made.token)
            print(
                f"token {made.name} ({made.kind}) created; it is shown only this once: "
                "paste it into the dashboard's login page",
                file=sys.stderr,
            )
    elif args.action == "list":
        held = client.call("token.list", p.NoParams(), p.TokenList)
        if as_json:
            _out(msgspec.json.encode(held).decode())
        else:
            _out(token_table(held))
    else:
        client.call_raw("token.revoke", p.TokenRef(name=args.name))
        if as_json:
            _out(msgspec.json.encode(p.Done()).decode())
        else:
            _out(f"token {args.name} revoked")
    return EXIT_OK


def token_table(held: p.TokenList) -> str:
    if not held.items:
        return "no tokens (ucvctl token create NAME)"
    width = max(4, *(len(t.name) for t in held.items))
    lines = [f"{'NAME':<{width}}  {'KIND':<8}  CREATED"]
    lines += [f"{t.name:<{width}}  {t.kind:<8}  {t.created_at}" for t in held.items]
    return "\n".join(lines)


def still(args: argparse.Namespace, client: Client, as_json: bool) -> int:
    client.settimeout(STILL_TIMEOUT_S)
    picture = client.call("camera.still", p.StillQuery(camera_id=args.id), p.Still)
    args.output.write_bytes(picture.jpeg)
    summary = {"camera_id": picture.camera_id, "source": picture.source, "at": picture.at,
               "bytes": len(picture.jpeg), "file": str(args.output)}  # fmt: skip
    if as_json:
        _out(msgspec.json.encode(summary).decode())
    else:
        _out(f"{args.output}: {len(picture.jpeg)} bytes, taken from the {picture.source} "
             f"at {picture.at}")  # fmt: skip
    return EXIT_OK
