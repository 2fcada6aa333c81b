#!/usr/bin/env bash
# Build the tiny test guest from Debian packages: a kernel, a busybox initramfs and a
# bootable ISO, cached in var/test-media/ (tiny.iso, vmlinuz, initrd.img).
#
# The guest loads the virtio, balloon and ACPI button modules, runs busybox acpid (an
# ACPI power button press powers it off), prints "OPENVRM-TINY-GUEST READY" on ttyS0
# and offers a shell there. Nothing is downloaded from outside the Debian archive and
# nothing is committed. Safe to run again: it returns at once while tiny.iso is newer
# than this script. Needs xorriso, which it installs with apt when run as root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF=$ROOT/scripts/$(basename "${BASH_SOURCE[0]}")
OUT=$ROOT/var/test-media
ISO=$OUT/tiny.iso
READY_LINE="OPENVRM-TINY-GUEST READY"
# Dependency order (modinfo -F depends); Debian builds all of them as modules.
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
  virtio_balloon button evdev)

log() { echo "build-test-media: $*"; }

cached() {
  [ -f "$ISO" ] && [ "$ISO" -nt "$SELF" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ]
}

cached && exit 0

ensure_xorriso() {
  command -v xorriso >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "xorriso is missing; as root: apt-get install -y --no-install-recommends xorriso" >&2
    exit 1
  fi
  log "installing xorriso"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends xorriso >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends xorriso >/dev/null; }
}

kernel_package() {
  # linux-image-amd64 is an empty metapackage: take the versioned image it depends on.
  local pkg
  pkg=$(apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
  [ -n "$pkg" ] || { log "cannot resolve linux-image-amd64 to a kernel package" >&2; exit 1; }
  echo "$pkg"
}

download() {
  # Stale package lists name versions the mirror no longer has: refresh once, as root.
  (cd "$WORK/debs" && apt-get download -q "$@" >/dev/null) && return 0
  [ "$(id -u)" -eq 0 ] || return 1
  apt-get update -qq
  (cd "$WORK/debs" && apt-get download -q "$@" >/dev/null)
}

extract() {
  local deb
  for deb in "$WORK"/debs/*.deb; do
    dpkg-deb -x "$deb" "$WORK/pkg"
  done
}

copy_module() {
  # Copy module $1 of kernel $2 into the initramfs, uncompressed (busybox insmod wants .ko).
  local name=$1 kdir=$2 src
  src=$(find "$kdir" \( -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.gz" \) -print -quit)
  [ -n "$src" ] || { log "module $name not found in $kdir" >&2; exit 1; }
  case $src in
    *.xz) xz -dc "$src" >"$WORK/initramfs/lib/modules/$name.ko" ;;
    *.gz) gzip -dc "$src" >"$WORK/initramfs/lib/modules/$name.ko" ;;
    *) cp "$src" "$WORK/initramfs/lib/modules/$name.ko" ;;
  esac
}

write_init() {
  cat >"$WORK/initramfs/init" <<EOF
#!/bin/busybox sh
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /etc /tmp /var/log /var/run
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for m in ${MODULES[*]}; do
  insmod /lib/modules/\$m.ko || echo "init: insmod \$m failed"
done
# acpid opens the input devices after it forks: wait for that, so READY means "obeys ACPI".
acpid
for _ in \$(seq 50); do
  ls -l /proc/\$(pidof acpid)/fd 2>/dev/null | grep -q /dev/input/event && break
  sleep 0.1
done
echo "$READY_LINE"
# PID 1 must never exit: give the serial console a shell again whenever it ends.
while :; do
  setsid cttyhack sh
  sleep 1
done
EOF
  chmod 0755 "$WORK/initramfs/init"
}

build_initramfs() {
  local bb=$WORK/pkg/bin/busybox kdir
  kdir=$(find "$WORK/pkg/lib/modules" -mindepth 1 -maxdepth 1 -type d -print -quit)
  mkdir -p "$WORK"/initramfs/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,etc/acpi/PWRF,tmp,lib/modules}
  cp "$bb" "$WORK/initramfs/bin/busybox"
  for m in "${MODULES[@]}"; do copy_module "$m" "$kdir"; done
  printf '#!/bin/sh\npoweroff -f\n' >"$WORK/initramfs/etc/acpi/PWRF/00000080"
  chmod 0755 "$WORK/initramfs/etc/acpi/PWRF/00000080"
  write_init
  (cd "$WORK/initramfs" && find . | "$bb" cpio -o -H newc 2>/dev/null) | gzip -9 >"$WORK/initrd.img"
  cp "$(find "$WORK/pkg/boot" -name 'vmlinuz-*' -print -quit)" "$WORK/vmlinuz"
}

build_iso() {
  local tree=$WORK/iso
  mkdir -p "$tree/isolinux"
  cp "$WORK/vmlinuz" "$WORK/initrd.img" "$tree/"
  cp "$WORK/pkg/usr/lib/ISOLINUX/isolinux.bin" "$WORK/pkg/usr/lib/syslinux/modules/bios/ldlinux.c32" \
    "$tree/isolinux/"
  cat >"$tree/isolinux/isolinux.cfg" <<EOF
SERIAL 0 115200
PROMPT 0
TIMEOUT 1
DEFAULT tiny
LABEL tiny
  KERNEL /vmlinuz
  APPEND initrd=/initrd.img console=ttyS0 quiet
EOF
  # xorriso prints its banner on stderr even with -quiet: show its output only on failure.
  xorriso -as mkisofs -quiet -o "$WORK/tiny.iso" -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table -J -R -V TINYGUEST "$tree" \
    2>"$WORK/xorriso.log" || { cat "$WORK/xorriso.log" >&2; return 1; }
}

publish() {
  # The ISO last: its presence means the set is complete. QEMU (libvirt-qemu) reads them.
  local name
  for name in vmlinuz initrd.img tiny.iso; do
    chmod 0644 "$WORK/$name"
    mv -f "$WORK/$name" "$OUT/$name"
  done
}

mkdir -p "$OUT"
chmod 0755 "$ROOT/var" "$OUT"
exec 9>"$OUT/.lock"
flock 9
cached && exit 0 # another run built it while we waited

ensure_xorriso
WORK=$(mktemp -d "$ROOT/var/.test-media-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/debs" "$WORK/pkg"
# As root, apt-get downloads as the _apt user: give it the folder (else it warns).
chmod 0755 "$WORK"
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$WORK/debs"; fi
kernel=$(kernel_package)
log "building tiny.iso from $kernel, busybox-static, isolinux, syslinux-common"
download "$kernel" busybox-static isolinux syslinux-common
extract
build_initramfs
build_iso
publish
log "done: $ISO ($(du -h "$ISO" | cut -f1))"
