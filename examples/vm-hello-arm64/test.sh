#!/bin/sh
# Checks the built guest: the kernel is an arm64 Image ("ARM\x64" at 0x38, what QEMU's
# -kernel boots on the virt machine), the initrd holds init, an arm64 busybox and the NIC
# driver. Booting it is left to Summon's health check (under TCG a boot costs seconds).
set -eu
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
here=$(cd "$(dirname "$0")" && pwd)
b="$here/build"
[ -s "$b/Image" ] || { echo "FAIL: build/Image missing; run ./build.sh" >&2; exit 1; }
[ -s "$b/initrd.gz" ] || { echo "FAIL: build/initrd.gz missing; run ./build.sh" >&2; exit 1; }
magic=$(od -An -c -j 56 -N 4 "$b/Image" | tr -d ' ')
[ "$magic" = 'ARMd' ] || { echo "FAIL: build/Image is not an arm64 Linux Image (magic at 0x38: $magic)" >&2; exit 1; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
(cd "$t" && gzip -dc "$b/initrd.gz" | cpio -id --quiet 2>/dev/null)
for f in init bin/busybox bin/sh; do
  [ -e "$t/$f" ] || { echo "FAIL: initrd lacks $f" >&2; exit 1; }
done
# ELF e_machine (offset 18, little-endian): 183 (0xb7) is aarch64.
machine=$(od -An -tu2 -j 18 -N 2 "$t/bin/busybox" | tr -d ' ')
[ "$machine" = 183 ] || { echo "FAIL: bin/busybox is not an aarch64 executable (e_machine $machine)" >&2; exit 1; }
find "$t/lib/modules" -name virtio_net.ko | grep -q . || { echo "FAIL: initrd lacks virtio_net.ko" >&2; exit 1; }
echo "ok: Image is arm64, initrd.gz holds init, an aarch64 busybox and virtio_net.ko"
