#!/bin/sh
# Checks the built guest: the kernel is a bzImage, the initrd holds init and the NIC
# driver, and (when qemu is installed) the guest boots and starts httpd within 15 s.
set -eu
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
here=$(cd "$(dirname "$0")" && pwd)
b="$here/build"
[ -s "$b/vmlinuz" ] || { echo "FAIL: build/vmlinuz missing; run ./build.sh" >&2; exit 1; }
[ -s "$b/initrd.gz" ] || { echo "FAIL: build/initrd.gz missing; run ./build.sh" >&2; exit 1; }
magic=$(dd if="$b/vmlinuz" bs=1 skip=514 count=4 2>/dev/null)
[ "$magic" = HdrS ] || { echo "FAIL: build/vmlinuz is not a Linux bzImage" >&2; exit 1; }
list=$(gzip -dc "$b/initrd.gz" | cpio -t --quiet 2>/dev/null)
for f in init bin/busybox; do
  echo "$list" | grep -qx "$f" || { echo "FAIL: initrd lacks $f" >&2; exit 1; }
done
echo "$list" | grep -q '/virtio_net.ko$' || { echo "FAIL: initrd lacks virtio_net.ko" >&2; exit 1; }
echo "ok: vmlinuz and initrd.gz look right"

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  echo "skip: qemu-system-x86_64 not installed, not booting the guest"
  exit 0
fi
tmp=$(mktemp -d)
qemu-system-x86_64 -nodefaults -no-user-config -display none -accel tcg -cpu max -m 128M \
  -kernel "$b/vmlinuz" -initrd "$b/initrd.gz" -append "console=ttyS0 quiet panic=1 SUMMON_RELEASE=test" \
  -serial "file:$tmp/console.log" -netdev user,id=n0 -device virtio-net-pci,netdev=n0 -no-reboot &
qpid=$!
trap 'kill $qpid 2>/dev/null; rm -rf "$tmp"' EXIT
i=0
while [ $i -lt 150 ]; do
  if grep -q 'vm-hello: httpd listening' "$tmp/console.log" 2>/dev/null; then
    grep 'vm-hello:' "$tmp/console.log"
    echo "ok: guest booted and started httpd in about $((i / 10)).$((i % 10)) s"
    exit 0
  fi
  kill -0 $qpid 2>/dev/null || break
  sleep 0.1
  i=$((i + 1))
done
echo "FAIL: guest did not start httpd within 15 s; console:" >&2
cat "$tmp/console.log" >&2
exit 1
