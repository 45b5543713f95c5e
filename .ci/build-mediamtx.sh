#!/usr/bin/env bash
# Build a pinned MediaMTX from the Go module proxy and cache the binary outside the repo.
#
# Why built and not downloaded: this project's machines reach the Go module proxy and the npm
# registry, not GitHub releases. The module alone does not build: two files are gitignored
# upstream and produced by `go generate` from the network, so we supply them ourselves
# (design.md §4). `go install` is not used because some releases carry `replace` directives.
#
# Prints the path of the binary on its last line of stdout. Idempotent: a cached binary that
# reports the pinned version is reused at once.
set -euo pipefail

MTX_VERSION="${UCVD_MEDIAMTX_VERSION:-v1.20.1}"
case "$MTX_VERSION" in
  v1.20.1) HLSJS_DEFAULT=1.7.0 ;;
  v1.18.* | v1.19.* | v1.20.0) HLSJS_DEFAULT=1.6.16 ;;
  *) HLSJS_DEFAULT="" ;;
esac
HLSJS_VERSION="${UCVD_HLSJS_VERSION:-$HLSJS_DEFAULT}"
CACHE_ROOT="${UCVD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ucvd}"
DEST_DIR="$CACHE_ROOT/mediamtx/$MTX_VERSION"
DEST="$DEST_DIR/mediamtx"

say() { printf '[mediamtx] %s\n' "$*" >&2; }
die() { printf '[mediamtx] ERROR: %s\n' "$*" >&2; exit 1; }

if [ -x "$DEST" ] && [ "$("$DEST" --version 2>/dev/null)" = "$MTX_VERSION" ]; then
  say "cached $MTX_VERSION at $DEST"
  echo "$DEST"
  exit 0
fi

[ -n "$HLSJS_VERSION" ] || die "no known hls.js version for MediaMTX $MTX_VERSION; set UCVD_HLSJS_VERSION"
command -v go >/dev/null || die "Go is not installed (needed to build MediaMTX from the module proxy)"
command -v npm >/dev/null || die "npm is not installed (needed to fetch hls.js for MediaMTX's HLS page)"

work="$(mktemp -d "${TMPDIR:-/tmp}/ucvd-mediamtx.XXXXXX")"
trap 'rm -rf "$work"' EXIT

say "downloading module github.com/bluenviron/mediamtx@$MTX_VERSION from the Go module proxy"
mkdir -p "$work/probe"
moddir="$(cd "$work/probe" && GOFLAGS=-mod=mod go mod download -json "github.com/bluenviron/mediamtx@$MTX_VERSION" \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["Error"]) if d.get("Error") else print(d["Dir"])')" \
  || die "go mod download of mediamtx@$MTX_VERSION failed (is the Go module proxy reachable?)"
[ -d "$moddir" ] || die "module directory $moddir missing after download"

say "copying the module source to a writable build tree"
cp -r "$moddir" "$work/src"
chmod -R u+w "$work/src"

say "writing internal/core/VERSION"
[ -d "$work/src/internal/core" ] || die "unexpected module layout: internal/core not found"
printf '%s' "$MTX_VERSION" >"$work/src/internal/core/VERSION"

say "fetching hls.js@$HLSJS_VERSION from the npm registry"
(cd "$work" && npm pack --silent "hls.js@$HLSJS_VERSION" >/dev/null) \
  || die "npm pack hls.js@$HLSJS_VERSION failed (is the npm registry reachable?)"
tar -xzf "$work"/hls.js-*.tgz -C "$work" package/dist/hls.min.js \
  || die "hls.js tarball has no dist/hls.min.js"
hlsdir="$work/src/internal/servers/hls"
[ -d "$hlsdir" ] || die "unexpected module layout: internal/servers/hls not found"
cp "$work/package/dist/hls.min.js" "$hlsdir/hls.min.js"

say "building (CGO_ENABLED=0 go build); the first run downloads dependencies and takes a few minutes"
if ! (cd "$work/src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$work/mediamtx" .) \
  >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log" >&2
  die "go build of mediamtx $MTX_VERSION failed (last lines of its output above)"
fi

got="$("$work/mediamtx" --version 2>/dev/null || true)"
[ "$got" = "$MTX_VERSION" ] || die "built binary reports version '$got', expected '$MTX_VERSION'"

mkdir -p "$DEST_DIR"
install -m 0755 "$work/mediamtx" "$DEST.tmp.$$"
mv -f "$DEST.tmp.$$" "$DEST"
say "installed $MTX_VERSION at $DEST"
echo "$DEST"
