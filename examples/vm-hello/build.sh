#!/bin/sh
# Builds the vm-hello guest from Debian packages only:
#   build/vmlinuz    the kernel of linux-image-cloud-amd64 (the artifact)
#   build/initrd.gz  busybox-static + the virtio NIC modules + ./init  ([run].initrd)
# The .deb files and their unpacked trees are cached so rebuilds do not refetch. Builds
# run with a clean environment and a per-build HOME, so the cache is, in order:
# $SUMMON_VM_CACHE, /var/cache/summon-vm-hello (when writable), $HOME/.cache/summon-vm-hello.
set -eu
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"

pick_cache() {
  if [ -n "${SUMMON_VM_CACHE:-}" ]; then echo "$SUMMON_VM_CACHE"; return; fi
  if mkdir -p /var/cache/summon-vm-hello 2>/dev/null && [ -w /var/cache/summon-vm-hello ]; then
    echo /var/cache/summon-vm-hello; return
  fi
  echo "${HOME:-/tmp}/.cache/summon-vm-hello"
}
cache=$(pick_cache)
mkdir -p "$cache/debs"

# linux-image-cloud-amd64 is a metapackage: the kernel is the package it depends on.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
if [ -z "$kpkg" ]; then
  # apt lists may be missing on a fresh host; fall back to whatever the cache already holds.
  kpkg=$(ls "$cache/debs" 2>/dev/null | sed -n 's/^\(linux-image-[0-9][^_]*\)_.*\.deb$/\1/p' | head -n1)
fi
if [ -z "$kpkg" ]; then
  echo "vm-hello: cannot resolve linux-image-cloud-amd64; run 'apt-get update' on the build host" >&2
  exit 1
fi

fetch() { # fetch PACKAGE: download PACKAGE's .deb into the cache unless it is there
  if ! ls "$cache/debs/$1"_*.deb >/dev/null 2>&1; then
    echo "vm-hello: fetching $1"
    (cd "$cache/debs" && apt-get download "$1" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    ls "$cache/debs/$1"_*.deb >/dev/null 2>&1 || { echo "vm-hello: apt-get download $1 failed" >&2; exit 1; }
  else
    echo "vm-hello: $1 cached in $cache"
  fi
}
fetch "$kpkg"
fetch busybox-static

unpack() { # unpack PACKAGE DIR: dpkg-deb -x once per .deb
  deb=$(ls "$cache/debs/$1"_*.deb | head -n1)
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
bb="$cache/busybox/bin/busybox"
mods="$cache/kernel/lib/modules/$kver"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/sbin" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp" \
  "$stage/etc/acpi/PWRF" "$stage/lib/modules/$kver" "$stage/www"
cp "$bb" "$stage/bin/busybox"
for app in $("$bb" --list); do
  [ "$app" = busybox ] || ln -s busybox "$stage/bin/$app"
done
install -m 0755 "$here/init" "$stage/init"
install -m 0755 "$here/power-button.sh" "$stage/etc/acpi/PWRF/00000080"
install -m 0755 "$here/udhcpc.script" "$stage/etc/udhcpc.script"

# Copy just the modules the guest loads, plus everything they depend on (read from each
# module's own modinfo), then let busybox depmod write modules.dep for modprobe.
find "$mods/kernel" -name '*.ko' >"$stage/.all-modules"
want="virtio_pci virtio_net button evdev qemu_fw_cfg"
done_list=" "
while :; do
  m=$(echo $want | cut -d' ' -f1)
  [ -n "$m" ] || break
  want=$(echo $want | cut -s -d' ' -f2-)
  case "$done_list" in *" $m "*) continue ;; esac
  done_list="$done_list$m "
  path=$(grep -E "/($m|$(echo "$m" | tr '_' '-')).ko\$" "$stage/.all-modules" | head -n1 || true)
  [ -n "$path" ] || { echo "vm-hello: module $m not in $kver, assuming it is built in" >&2; continue; }
  rel=${path#"$mods/"}
  mkdir -p "$stage/lib/modules/$kver/$(dirname "$rel")"
  cp "$path" "$stage/lib/modules/$kver/$rel"
  # A module names its dependencies in its .modinfo section as depends=a,b.
  deps=$(tr '\0' '\n' <"$path" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' ')
  want="$want $deps"
done
rm "$stage/.all-modules"
"$bb" depmod -b "$stage" "$kver"
echo "vm-hello: kernel $kver, modules:$done_list"

mkdir -p "$out"
cp "$cache/kernel/boot/vmlinuz-$kver" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
(cd "$stage" && find . -path ./.from -prune -o -print | sort | cpio -o -H newc --quiet -R 0:0) | gzip -9n >"$out/initrd.gz.tmp"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
echo "vm-hello: built $out/vmlinuz ($(wc -c <"$out/vmlinuz") bytes) and $out/initrd.gz ($(wc -c <"$out/initrd.gz") bytes)"
