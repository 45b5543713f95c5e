#!/usr/bin/env bash
# Build the Debian package of ucvd for one distribution, amd64:
#   dist/ucvd_<version>+<suffix>_amd64.deb, <version> from ucvd/version.py, <suffix> naming
#   the distribution (deb12, deb13, ubuntu24.04) so that packages for each can sit side by
#   side and an upgrade of the distribution sorts the newer one higher.
#
# Usage: bash packaging/build-deb.sh [--dist DIST] [--out DIR]
#        DIST: bookworm (Debian 12), trixie (Debian 13) or noble (Ubuntu 24.04); default
#        this machine's own (/etc/os-release). Or UCVD_DEB_DIST / UCVD_DEB_OUT; default out
#        dist/. Prints the path of the package on stdout, and what it does on stderr.
#        UCVD_BUILD_PYTHON: the environment whose pip builds it and whose versions are
#        pinned (default .venv/bin/python); DEB_MAINTAINER: the control file's Maintainer.
# Needs: .venv (make deps), dpkg-deb, and PyPI through pip (or pip's cache, once warm).
#
# What differs between distributions is only the interpreter the bundled libraries are
# for: its version selects the compiled wheels (cpXY, and no newer glibc than the
# distribution's) and pins the control file's python3 dependency to that minor version.
#
# What goes in:
#   /usr/lib/ucvd/python   ucvd, ucvctl and their dependencies, installed with pip --target
#                          for the distribution's CPython and glibc, pinned to the versions
#                          in .venv: the ones the test suite ran against
#   /usr/bin/ucvd, ucvctl, ucvd-web  launchers (packaging/bin/) running the distribution's python3
#   /usr/lib/systemd/system/ucvd.{service,socket}, ucvd-web.service (left disabled),
#   /usr/lib/sysusers.d/ucvd.conf  systemd/
#   /etc/ucvd/ucvd.toml    the commented example config (packaging/ucvd.toml), a conffile
#   /usr/share/doc/ucvd/   README.md, and copyright naming each bundled project's license
#   /usr/share/ucvd/web/   the web dashboard, as Vite built it into web/dist (make deps);
#                          ucvd-web serves it; the licenses of the JavaScript bundled in it
#                          are in /usr/share/doc/ucvd/dashboard/ and the copyright file
#   /usr/share/ucvd/prometheus/  ucvd-alerts.yml, the Prometheus alert rules, and
#                          prometheus.example.yml, a scrape configuration loading them
#                          (packaging/prometheus/; for the central Prometheus server)
#   DEBIAN/                control, conffiles, md5sums, maintainer scripts (packaging/debian/)
set -euo pipefail

say() { printf '[deb] %s\n' "$*" >&2; }
die() { printf '[deb] ERROR: %s\n' "$*" >&2; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${UCVD_DEB_OUT:-$repo/dist}
dist=${UCVD_DEB_DIST:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --dist) [ $# -ge 2 ] || die "--dist needs a distribution"; dist=$2; shift 2 ;;
    --dist=*) dist=${1#--dist=}; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (usage: build-deb.sh [--dist DIST] [--out DIR])" ;;
  esac
done
if [ -z "$dist" ]; then
  dist=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  [ -n "$dist" ] || die "cannot tell this machine's distribution: pass --dist"
fi
# The distribution's CPython (minor version) and glibc (2.N), and the version suffix.
case "$dist" in
  bookworm) TARGET_PYTHON=3.11 TARGET_GLIBC_MINOR=36 SUFFIX=deb12 ;;
  trixie) TARGET_PYTHON=3.13 TARGET_GLIBC_MINOR=41 SUFFIX=deb13 ;;
  noble) TARGET_PYTHON=3.12 TARGET_GLIBC_MINOR=39 SUFFIX=ubuntu24.04 ;;
  *) die "unknown distribution '$dist' (bookworm, trixie or noble)" ;;
esac
NEXT_PYTHON=${TARGET_PYTHON%.*}.$((${TARGET_PYTHON#*.} + 1))
out=$(realpath -m -- "$out")
cd "$repo"
umask 022
t0=$(date +%s)

PY=${UCVD_BUILD_PYTHON:-.venv/bin/python}
MAINTAINER=${DEB_MAINTAINER:-ucvd maintainers <maintainers@ucvd.invalid>}
LIB=usr/lib/ucvd/python

[ -x "$PY" ] || die "$PY not found: run 'make deps' first ('make deb' does)"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (apt-get install dpkg)"
[ -f web/dist/index.html ] && [ -d web/node_modules ] \
  || die "the dashboard is not built (web/dist): run 'make deps' ('make deb' does)"
for f in systemd/ucvd.service systemd/ucvd.socket systemd/ucvd-web.service systemd/ucvd.sysusers \
  packaging/ucvd.toml packaging/prometheus/ucvd-alerts.yml \
  packaging/prometheus/prometheus.example.yml README.md; do
  [ -f "$f" ] || die "$f is missing"
done

version=$(sed -n 's/^__version__ = "\([^"]*\)"$/\1/p' ucvd/version.py)
[ -n "$version" ] || die 'ucvd/version.py has no line __version__ = "..."'
# PEP 440 to Debian: pre- and dev releases sort before the release (~), post releases after (+).
deb_version=$(sed -E 's/[.-]?(a|b|rc|dev)([0-9]*)/~\1\2/g; s/[.-]?post([0-9]*)/+post\1/' <<<"$version")
deb_version=$deb_version+$SUFFIX
[[ $deb_version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] \
  || die "cannot make a Debian version of $version (got $deb_version)"

work=$(mktemp -d "${TMPDIR:-/tmp}/ucvd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
pip=("$PY" -m pip --disable-pip-version-check)

# --- 1. Wheels ------------------------------------------------------------------------------
say "1/4 wheels of ucvd $version and its dependencies, at the versions in .venv ($dist)"
# Every package in .venv, pinned, less ucvd itself (built from this tree, whatever .venv has).
"${pip[@]}" freeze --exclude-editable >"$work/freeze.txt" || die "pip freeze failed in .venv"
sed '/^ucvd[ =@]/Id' "$work/freeze.txt" >"$work/constraints.txt"
"${pip[@]}" wheel -q -c "$work/constraints.txt" -w "$work/wheels" . \
  || die "pip wheel failed: is PyPI reachable (or pip's cache warm)?"
wheels=("$work/wheels/ucvd-$version-"*.whl)
[ -f "${wheels[0]}" ] || die "pip wheel made no wheel named ucvd-$version-*.whl"

# --- 2. The library directory ---------------------------------------------------------------
# pip resolves again for the target rather than this machine: sdists were built into wheels
# above (pure Python ones serve any target), compiled wheels come from PyPI for the target.
say "2/4 /$LIB: pip install --target, for CPython $TARGET_PYTHON, glibc <= 2.$TARGET_GLIBC_MINOR, x86_64"
platforms=()
for ((minor = TARGET_GLIBC_MINOR; minor >= 17; minor--)); do
  platforms+=(--platform "manylinux_2_${minor}_x86_64")
done
platforms+=(--platform manylinux2014_x86_64) # pip adds manylinux2010 and manylinux1 to it
"${pip[@]}" install -q --no-compile --no-warn-script-location --target "$root/$LIB" \
  --only-binary=:all: --implementation cp --python-version "$TARGET_PYTHON" \
  --abi "cp${TARGET_PYTHON/./}" "${platforms[@]}" \
  --find-links "$work/wheels" -c "$work/constraints.txt" "${wheels[0]}" \
  || die "pip install --target failed: some dependency has no wheel for the target?"
# pip's console-script wrappers name this machine's interpreter: the launchers replace them.
rm -rf "${root:?}/$LIB/bin"
find "$root/$LIB" -depth -type d -name __pycache__ -exec rm -rf {} +
# direct_url.json records where the wheel was built (a temporary directory of this build).
find "$root/$LIB" -path '*.dist-info/direct_url.json' -delete
for module in ucvd/cli.py ucvctl/cli.py ucvdweb/cli.py; do
  [ -f "$root/$LIB/$module" ] || die "/$LIB/$module is missing after pip install"
done

# --- 3. The rest of the tree ----------------------------------------------------------------
say "3/4 launchers, systemd files, /etc/ucvd/ucvd.toml, docs, dashboard, alert rules, maintainer scripts"
install -D -m 0755 packaging/bin/ucvd "$root/usr/bin/ucvd"
install -D -m 0755 packaging/bin/ucvctl "$root/usr/bin/ucvctl"
install -D -m 0755 packaging/bin/ucvd-web "$root/usr/bin/ucvd-web"
install -D -m 0644 systemd/ucvd-web.service "$root/usr/lib/systemd/system/ucvd-web.service"
install -D -m 0644 systemd/ucvd.service "$root/usr/lib/systemd/system/ucvd.service"
install -D -m 0644 systemd/ucvd.socket "$root/usr/lib/systemd/system/ucvd.socket"
install -D -m 0644 systemd/ucvd.sysusers "$root/usr/lib/sysusers.d/ucvd.conf"
install -D -m 0644 packaging/ucvd.toml "$root/etc/ucvd/ucvd.toml"
install -D -m 0644 README.md "$root/usr/share/doc/ucvd/README.md"
install -d "$root/usr/share/ucvd/web"
cp -R web/dist/. "$root/usr/share/ucvd/web/"
for f in ucvd-alerts.yml prometheus.example.yml; do
  install -D -m 0644 "packaging/prometheus/$f" "$root/usr/share/ucvd/prometheus/$f"
done
{
  cat packaging/debian/copyright.in
  echo
  "$PY" packaging/licenses.py "$root/$LIB" "$LIB" ucvd
  "$PY" packaging/web_licenses.py web "$root/usr/share/doc/ucvd/dashboard" usr/share/doc/ucvd/dashboard
} >"$root/usr/share/doc/ucvd/copyright" || die "could not write the copyright file"
# Whatever modes the wheels carried: directories 0755, files 0644 (Python loads extension
# modules without the x bit), only the launchers executable.
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f ! -path "$root/usr/bin/*" -exec chmod 0644 {} +

install -d "$root/DEBIAN"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm \
  "$root/DEBIAN/"
echo /etc/ucvd/ucvd.toml >"$root/DEBIAN/conffiles"
# As dh_md5sums: every file but the conffiles (dpkg keeps their sums itself).
(cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' \
  | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$deb_version/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
  -e "s|@MAINTAINER@|$MAINTAINER|" -e "s/@PYTHON@/$TARGET_PYTHON/" \
  -e "s/@NEXT_PYTHON@/$NEXT_PYTHON/" packaging/debian/control.in >"$root/DEBIAN/control"
! grep -n '@[A-Z_]*@' "$root/DEBIAN/control" || die "unfilled placeholder in DEBIAN/control"

# --- 4. The package -------------------------------------------------------------------------
deb=$out/ucvd_${deb_version}_amd64.deb
say "4/4 dpkg-deb --build -> $deb"
mkdir -p "$out"
# xz at level 3, not dpkg's 6: 0.6 MB bigger, and 3 s instead of 13 s to compress.
dpkg-deb --root-owner-group -Zxz -z3 --build "$root" "$deb.partial" >/dev/null \
  || die "dpkg-deb --build failed"
mv -f "$deb.partial" "$deb"
say "done in $(($(date +%s) - t0)) s: $(du -h "$deb" | cut -f1) package, ${installed_size} KiB installed"
echo "$deb"
