"""Entry point of the `ucvd` daemon.

The daemon proper (RPC socket, supervisors, state) lands with the control-plane issue; until
then the entry point only answers `--version` and `--help`, and refuses to pretend it runs.
"""

from __future__ import annotations

import argparse
import sys

from ucvd.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ucvd",
        description="Universal Camera Viewer gateway daemon: relays IP cameras to MediaMTX.",
    )
    parser.add_argument("--version", action="version", version=f"ucvd {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    print("ucvd: the daemon is not available in this build yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
