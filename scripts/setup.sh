#!/usr/bin/env bash
# Installs what Summon and its test suite need on Debian 12 (system packages, then npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(git ca-certificates openssl qemu-system-x86 qemu-utils nginx-light wrk chromium postgresql
      busybox-static iproute2 dnsutils cpio syslinux-common syslinux extlinux mtools dosfstools xorriso
      prometheus rsyslog bubblewrap dnsmasq-base zsh haproxy pebble nftables)
# arm64 guests: qemu-system-aarch64, and examples/vm-hello-arm64 fetches Debian's arm64
# packages (apt-get download linux-image-…-cloud-arm64:arm64 busybox-static:arm64).
PKGS+=(qemu-system-arm)
update=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "-----> dpkg --add-architecture arm64 (package lists for vm-hello-arm64's build)"
  $SUDO dpkg --add-architecture arm64
  update=1
fi
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ] || [ "$update" = 1 ]; then
  $SUDO apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "-----> Installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "-----> npm ci"
npm ci --no-audit --no-fund
