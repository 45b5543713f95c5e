#!/usr/bin/env bash
# Install everything ucvd's tests, benchmarks and demo need, on a fresh Debian machine.
# Idempotent: each step checks what is already there and a warm run takes seconds.
#   1. FFmpeg (ffmpeg, ffprobe), setpriv, iproute2 (`ip netns` for the discovery tests'
#      LAN), onvif-tools (a third-party ONVIF client the simulators must satisfy) and
#      prometheus (promtool checks and unit-tests the shipped alert rules; the ucvd-web
#      test scrapes with its server, started by the test: the package's own service is
#      not used), from Debian's packages
#      and chromium (the dashboard's browser test drives it with Playwright)
#   2. MediaMTX, pinned, built from the Go module proxy (.ci/build-mediamtx.sh)
#   3. The Python environment: a venv in the repo (.venv), the package installed editable
#   4. The dashboard (web/): `npm ci` from the committed lockfile, then Vite's build into
#      web/dist, which ucvd-web serves and the .deb ships (needs Node.js >= 20 and npm)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[deps] %s\n' "$*" >&2; }
die() { printf '[deps] ERROR: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s)

# --- 1. Debian packages -------------------------------------------------------------------
need_pkgs=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || need_pkgs+=(ffmpeg)
command -v setpriv >/dev/null || need_pkgs+=(util-linux)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v onvif-util >/dev/null || need_pkgs+=(onvif-tools)
command -v promtool >/dev/null || need_pkgs+=(prometheus)
command -v chromium >/dev/null || need_pkgs+=(chromium)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo -n); else
    die "missing ${need_pkgs[*]} and not root (no sudo): install them with apt-get"
  fi
  say "installing Debian packages: ${need_pkgs[*]} (apt-get update first)"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
    || die "apt-get update failed"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${need_pkgs[@]}" >/dev/null || die "apt-get install ${need_pkgs[*]} failed"
else
  say "Debian packages present: $(ffmpeg -hide_banner -version | head -n1 | cut -d' ' -f1-3)"
fi

# --- 2. MediaMTX ----------------------------------------------------------------------------
bash .ci/build-mediamtx.sh >/dev/null

# --- 3. Python environment ------------------------------------------------------------------
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || die "$PY not found (ucvd targets Python 3.11)"
stamp=.venv/.ucvd-installed
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
  say "Python environment up to date (.venv)"
else
  say "creating the Python environment in .venv and installing ucvd[test,dev] (editable)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv || die "could not create .venv with $PY"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip \
    || die "pip upgrade failed"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,dev]' \
    || die "pip install -e .[test,dev] failed"
  touch "$stamp"
fi
# --- 4. The dashboard ------------------------------------------------------------------------
command -v npm >/dev/null && command -v node >/dev/null \
  || die "node and npm are needed to build the dashboard (web/): install Node.js >= 20"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old for Vite: 20 or newer"
if [ -f web/node_modules/.package-lock.json ] \
  && [ web/node_modules/.package-lock.json -nt web/package-lock.json ]; then
  say "dashboard dependencies up to date (web/node_modules)"
else
  say "installing the dashboard's dependencies (npm ci, from web/package-lock.json)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed"
fi
if [ -f web/dist/index.html ] && [ -z "$(find web/src web/index.html web/vite.config.ts \
  web/package-lock.json web/tsconfig.json -newer web/dist/index.html 2>/dev/null | head -n1)" ]; then
  say "dashboard build up to date (web/dist)"
else
  say "building the dashboard (web/dist)"
  (cd web && npm run --silent build >/dev/null) || die "the dashboard's build failed (cd web && npm run build)"
fi
say "done in $(( $(date +%s) - t0 )) s"
