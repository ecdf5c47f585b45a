#!/usr/bin/env bash
# Installs what Summon and its test suite need on Debian 12 (system packages, then npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(git ca-certificates openssl qemu-system-x86 qemu-utils nginx-light wrk chromium postgresql
      busybox-static iproute2 dnsutils cpio syslinux-common syslinux extlinux mtools dosfstools xorriso
      prometheus rsyslog bubblewrap dnsmasq-base zsh)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "-----> Installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "-----> npm ci"
npm ci --no-audit --no-fund
