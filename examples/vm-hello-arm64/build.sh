#!/bin/sh
# Builds the vm-hello-arm64 guest from Debian arm64 packages only (on any host: nothing
# built here runs on the build host):
#   build/Image      the kernel of linux-image-cloud-arm64, an uncompressed arm64 Image (the artifact)
#   build/initrd.gz  busybox-static:arm64 + the virtio NIC modules + ./init  ([run].initrd)
# The host needs arm64 package lists: `dpkg --add-architecture arm64 && apt-get update`
# (scripts/setup.sh does it). The .deb files and their unpacked trees are cached, in order:
# $SUMMON_VM_CACHE, /var/cache/summon-vm-hello-arm64 (when writable), $HOME/.cache/summon-vm-hello-arm64.
set -eu
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"
name=vm-hello-arm64

pick_cache() {
  if [ -n "${SUMMON_VM_CACHE:-}" ]; then echo "$SUMMON_VM_CACHE"; return; fi
  if mkdir -p /var/cache/$name 2>/dev/null && [ -w /var/cache/$name ]; then
    echo /var/cache/$name; return
  fi
  echo "${HOME:-/tmp}/.cache/$name"
}
cache=$(pick_cache)
mkdir -p "$cache/debs"

# linux-image-cloud-arm64 is a metapackage: the kernel is the package it depends on.
kpkg=$(apt-cache depends linux-image-cloud-arm64:arm64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\)\(:arm64\)\{0,1\}$/\1/p' | head -n1)
if [ -z "$kpkg" ]; then
  # apt lists may be missing on a fresh host; fall back to whatever the cache already holds.
  kpkg=$(ls "$cache/debs" 2>/dev/null | sed -n 's/^\(linux-image-[0-9][^_]*\)_.*_arm64\.deb$/\1/p' | head -n1)
fi
if [ -z "$kpkg" ]; then
  echo "$name: cannot resolve linux-image-cloud-arm64:arm64; on the build host run" >&2
  echo "  dpkg --add-architecture arm64 && apt-get update" >&2
  exit 1
fi

fetch() { # fetch PACKAGE: download PACKAGE:arm64's .deb into the cache unless it is there
  if ! ls "$cache/debs/$1"_*_arm64.deb >/dev/null 2>&1; then
    echo "$name: fetching $1:arm64"
    (cd "$cache/debs" && apt-get download "$1:arm64" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    ls "$cache/debs/$1"_*_arm64.deb >/dev/null 2>&1 || { echo "$name: apt-get download $1:arm64 failed" >&2; exit 1; }
  else
    echo "$name: $1:arm64 cached in $cache"
  fi
}
fetch "$kpkg"
fetch busybox-static

unpack() { # unpack PACKAGE DIR: dpkg-deb -x once per .deb
  deb=$(ls "$cache/debs/$1"_*_arm64.deb | head -n1)
  stamp="$2/.from"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$deb" ]; then
    rm -rf "$2.tmp" && mkdir -p "$2.tmp"
    dpkg-deb -x "$deb" "$2.tmp"
    echo "$deb" >"$2.tmp/.from"
    rm -rf "$2" && mv "$2.tmp" "$2"
  fi
}
unpack "$kpkg" "$cache/kernel"
unpack busybox-static "$cache/busybox"

kver=$(ls "$cache/kernel/lib/modules" | head -n1)
mods="$cache/kernel/lib/modules/$kver"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp" "$stage/lib/modules/$kver" "$stage/www"
# The arm64 busybox cannot run here: init makes its applet links (busybox --install) and
# modules.dep (depmod) when the guest boots; /bin/sh is the one link it needs to start.
cp "$cache/busybox/bin/busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
install -m 0755 "$here/init" "$stage/init"

# Copy just the modules the guest loads, plus everything they depend on (read from each
# module's own modinfo).
find "$mods/kernel" -name '*.ko' >"$stage/.all-modules"
want="virtio_pci virtio_net qemu_fw_cfg"
done_list=" "
while :; do
  m=$(echo $want | cut -d' ' -f1)
  [ -n "$m" ] || break
  want=$(echo $want | cut -s -d' ' -f2-)
  case "$done_list" in *" $m "*) continue ;; esac
  done_list="$done_list$m "
  path=$(grep -E "/($m|$(echo "$m" | tr '_' '-')).ko\$" "$stage/.all-modules" | head -n1 || true)
  [ -n "$path" ] || { echo "$name: module $m not in $kver, assuming it is built in" >&2; continue; }
  rel=${path#"$mods/"}
  mkdir -p "$stage/lib/modules/$kver/$(dirname "$rel")"
  cp "$path" "$stage/lib/modules/$kver/$rel"
  # A module names its dependencies in its .modinfo section as depends=a,b.
  deps=$(tr '\0' '\n' <"$path" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' ')
  want="$want $deps"
done
rm "$stage/.all-modules"
echo "$name: kernel $kver, modules:$done_list"

mkdir -p "$out"
# QEMU boots an arm64 kernel only as a plain Image: a gzip-compressed vmlinuz (what some
# Debian kernels ship) is decompressed here.
k="$cache/kernel/boot/vmlinuz-$kver"
if [ "$(od -An -tx1 -N2 "$k" | tr -d ' ')" = 1f8b ]; then
  gzip -dc "$k" >"$out/Image.tmp"
else
  cp "$k" "$out/Image.tmp"
fi
mv "$out/Image.tmp" "$out/Image"
(cd "$stage" && find . -print | sort | cpio -o -H newc --quiet -R 0:0) | gzip -9n >"$out/initrd.gz.tmp"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
echo "$name: built $out/Image ($(wc -c <"$out/Image") bytes) and $out/initrd.gz ($(wc -c <"$out/initrd.gz") bytes)"
