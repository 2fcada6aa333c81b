#!/usr/bin/env bash
# Install the Debian packages OpenVRM needs, when run as root and they are missing.
# Without root it only reports what is missing. Safe to run again: it installs nothing twice.
# `setup-system.sh test` also installs what only the test suite needs.
set -euo pipefail

packages=(
  python3-venv python3-dev gcc pkg-config   # the virtualenv and native wheels
  libvirt-dev                               # builds libvirt-python
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils  # the local compute node
  openvswitch-switch                        # DVS bridges with VLAN port groups
  iproute2 iptables libvirt-daemon-config-nwfilter  # filtered NICs: bridges, ebtables, clean-traffic
  postgresql                                # the test suite's throwaway server
)
if [ "${1:-}" = "test" ]; then
  packages=(
    chromium                                # the WebUI's browser tests (Playwright drives it)
    fonts-wqy-zenhei                        # Chinese glyphs in the browser tests' screenshots
  )
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "setup: install them as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
