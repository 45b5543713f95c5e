"""Write the copyright stanzas of the JavaScript packages bundled in the dashboard's build,
and copy their license files next to them.

Usage: python web_licenses.py WEBDIR DOCDIR PREFIX
  WEBDIR: the dashboard's source (web/), with node_modules installed by `npm ci`
  DOCDIR: where the license files go (the package's usr/share/doc/ucvd/dashboard)
  PREFIX: DOCDIR's path in the package, without the leading /

Only what the browser gets is bundled: the runtime `dependencies` of web/package.json and
theirs, never the build tools (devDependencies). Printed to stdout, for build-deb.sh.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

LICENSE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license")


def runtime_packages(web: Path) -> list[Path]:
    """The package directories of every runtime dependency, transitively, sorted by name."""
    wanted = list(json.loads((web / "package.json").read_text()).get("dependencies", {}))
    found: dict[str, Path] = {}
    while wanted:
        name = wanted.pop()
        if name in found:
            continue
        directory = web / "node_modules" / name
        if not (directory / "package.json").is_file():
            raise SystemExit(f"{name} is not installed in {web}/node_modules: run npm ci")
        found[name] = directory
        meta = json.loads((directory / "package.json").read_text())
        wanted += list(meta.get("dependencies", {}))
    return [found[n] for n in sorted(found)]


def main() -> int:
    web, docdir, prefix = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].rstrip("/")
    docdir.mkdir(parents=True, exist_ok=True)
    for directory in runtime_packages(web):
        meta = json.loads((directory / "package.json").read_text())
        name, version = meta["name"], meta.get("version", "?")
        license_id = meta.get("license") or "unknown: see the license file"
        texts = [directory / n for n in LICENSE_NAMES if (directory / n).is_file()]
        if not texts:
            raise SystemExit(f"{name} {version} ships no license file")
        copied = f"{name.replace('/', '__')}-{texts[0].name}"
        shutil.copyfile(texts[0], docdir / copied)
        print("Files: usr/share/ucvd/web/assets/*")
        print(f"Comment: {name} {version}, bundled in the web dashboard; its license: "
              f"/{prefix}/{copied}")  # fmt: skip
        print(f"License: {license_id}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
