#!/usr/bin/env bash
# Start the node services a CNA agent needs on this machine, when they are not running:
# virtlogd + libvirtd (qemu:///system) and Open vSwitch (userspace datapath).
# Needs root. Safe to run again.
#
# The KVM trap: where /dev/kvm exists but the CPU offers no usable hardware
# virtualization (no vmx/svm flag, e.g. inside a VM without nested KVM), libvirt
# re-probes QEMU on nearly every call and each call takes a minute. We then start
# libvirtd in its own mount namespace with /dev/kvm hidden, so it consistently
# sees a TCG-only host and guests run with <domain type='qemu'>.
set -euo pipefail

log() { echo "node-services: $*"; }

kvm_usable() {
  [ -e /dev/kvm ] && grep -qE '\b(vmx|svm)\b' /proc/cpuinfo
}

ensure_qemu_conf() {
  # Without per-VM namespaces QEMU sees libvirtd's /dev (where /dev/kvm is hidden).
  local conf=/etc/libvirt/qemu.conf
  grep -qE '^namespaces *=' "$conf" || echo 'namespaces = [ ]  # openvrm: KVM hidden' >>"$conf"
}

wait_for_socket() {
  local sock=$1
  for _ in $(seq 1 100); do
    [ -S "$sock" ] && return 0
    sleep 0.1
  done
  log "timed out waiting for $sock" >&2
  return 1
}

start_libvirtd() {
  pgrep -x virtlogd >/dev/null || virtlogd -d
  if pgrep -x libvirtd >/dev/null; then
    return 0
  fi
  if kvm_usable; then
    log "starting libvirtd (KVM available)"
    libvirtd -d
  else
    log "starting libvirtd with /dev/kvm hidden (no usable hardware virtualization: TCG guests)"
    ensure_qemu_conf
    local empty=/run/openvrm-no-kvm
    touch "$empty"
    if [ -e /dev/kvm ]; then
      unshare -m --propagation private sh -c "mount --bind $empty /dev/kvm && exec libvirtd -d"
    else
      libvirtd -d
    fi
  fi
  wait_for_socket /var/run/libvirt/libvirt-sock
}

start_ovs() {
  command -v ovs-vsctl >/dev/null || return 0
  mkdir -p /var/run/openvswitch /etc/openvswitch
  if [ ! -s /etc/openvswitch/conf.db ]; then
    ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
  fi
  if ! pgrep -x ovsdb-server >/dev/null; then
    log "starting ovsdb-server"
    ovsdb-server --remote=punix:/var/run/openvswitch/db.sock \
      --remote=db:Open_vSwitch,Open_vSwitch,manager_options --pidfile --detach \
      --log-file=/var/log/openvswitch/ovsdb-server.log
    wait_for_socket /var/run/openvswitch/db.sock
    ovs-vsctl --no-wait init
  fi
  if ! pgrep -x ovs-vswitchd >/dev/null; then
    log "starting ovs-vswitchd"
    ovs-vswitchd --pidfile --detach --log-file=/var/log/openvswitch/ovs-vswitchd.log
  fi
}

if [ "$(id -u)" -ne 0 ]; then
  log "not root: leaving libvirtd and Open vSwitch as they are" >&2
  exit 0
fi
mkdir -p /var/log/openvswitch
start_libvirtd
start_ovs
