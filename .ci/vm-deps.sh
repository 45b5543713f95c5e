#!/usr/bin/env bash
# What the boot test (make vm-test) needs on the host, beyond `make deps`: QEMU to boot the
# VM, debootstrap to build its Debian root, e2fsprogs for `mkfs.ext4 -d`. Idempotent.
set -euo pipefail

say() { printf '[vm-deps] %s\n' "$*" >&2; }
die() { printf '[vm-deps] ERROR: %s\n' "$*" >&2; exit 1; }

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || [ -x /usr/sbin/mkfs.ext4 ] || need+=(e2fsprogs)
if [ ${#need[@]} -eq 0 ]; then
  say "present: $(qemu-system-x86_64 --version | head -n1)"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || die "missing ${need[*]}; the boot test runs as root: install them with apt-get"
say "installing ${need[*]} (apt-get update first)"
DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || die "apt-get update failed"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
  || die "apt-get install ${need[*]} failed"
