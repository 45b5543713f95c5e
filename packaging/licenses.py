"""Write the copyright stanzas of the Python projects bundled in the package's library dir.

Usage: python licenses.py LIBDIR PREFIX [SKIP...]
  PREFIX: LIBDIR's path in the package, without the leading /
  SKIP: projects that the header already covers (ucvd itself)

One DEP-5 stanza per *.dist-info found in LIBDIR: the project's files, its license as its
metadata declares it (License-Expression, else License, else the trove classifiers), and
where its license files are. Printed to stdout, for build-deb.sh to append to the header.
"""

from __future__ import annotations

import csv
import sys
from email.parser import HeaderParser
from pathlib import Path

CLASSIFIER = "License :: OSI Approved :: "


def declared_license(meta: dict[str, list[str]]) -> str:
    for key in ("License-Expression", "License"):
        for value in meta.get(key, []):
            first = value.strip().splitlines()[0] if value.strip() else ""
            if first and len(first) < 80:
                return first
    named = [
        c.removeprefix(CLASSIFIER) for c in meta.get("Classifier", []) if c.startswith(CLASSIFIER)
    ]
    return " or ".join(named) or "unknown: see the license files"


def stanza(dist_info: Path, prefix: str) -> str:
    message = HeaderParser().parsestr(
        (dist_info / "METADATA").read_text(encoding="utf-8", errors="replace")
    )
    meta: dict[str, list[str]] = {}
    for key, value in message.items():
        meta.setdefault(key, []).append(str(value))
    name, version = meta["Name"][0], meta["Version"][0]
    with (dist_info / "RECORD").open(encoding="utf-8", newline="") as record:
        paths = [row[0] for row in csv.reader(record) if row]
    tops: dict[str, bool] = {}  # top-level name -> whether it is a directory
    for path in paths:
        if not path.startswith(("..", "bin/")):
            top, slash, _ = path.partition("/")
            tops[top] = tops.get(top, False) or bool(slash)
    files = " ".join(
        f"{prefix}/{top}/*" if d else f"{prefix}/{top}" for top, d in sorted(tops.items())
    )
    texts = sorted(
        str(path.relative_to(dist_info.parent))
        for path in dist_info.rglob("*")
        if path.is_file() and path.name.upper().startswith(("LICEN", "COPYING", "NOTICE"))
    )
    where = ", ".join(f"/{prefix}/{t}" for t in texts) or "none shipped"
    return (
        f"Files: {files}\n"
        f"Comment: {name} {version}, from PyPI. License files: {where}\n"
        f"License: {declared_license(meta)}\n"
    )


def main() -> int:
    libdir, prefix, skip = Path(sys.argv[1]), sys.argv[2].rstrip("/"), set(sys.argv[3:])
    dist_infos = sorted(
        (d for d in libdir.glob("*.dist-info") if d.name.split("-")[0] not in skip),
        key=lambda d: d.name.lower(),
    )
    if not dist_infos:
        print(f"licenses.py: no *.dist-info in {libdir}", file=sys.stderr)
        return 1
    print("\n".join(stanza(d, prefix) for d in dist_infos), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
