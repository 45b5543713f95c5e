"""Entry point of `ucvctl`, the operator's client; kept light so that it starts fast."""

from __future__ import annotations

import argparse
import sys

from ucvd.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ucvctl",
        description="Control the ucvd camera gateway daemon over its Unix socket.",
    )
    parser.add_argument("--version", action="version", version=f"ucvctl {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    print("ucvctl: no commands are available in this build yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
