"""The tiny test guest's boot media, built from Debian packages by scripts/build-test-media.sh.

The media live in ``var/test-media/`` (git-ignored), world-readable so that QEMU,
running as ``libvirt-qemu``, can open them. ``make test`` builds them first; these
helpers build them when a bare ``pytest`` finds them missing or stale.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = PROJECT / "scripts" / "build-test-media.sh"
MEDIA_DIR = PROJECT / "var" / "test-media"
TINY_ISO = MEDIA_DIR / "tiny.iso"
# For direct kernel boot (<os><kernel>/<initrd>); built together with the ISO.
TINY_KERNEL = MEDIA_DIR / "vmlinuz"
TINY_INITRD = MEDIA_DIR / "initrd.img"
# The guest's init prints this on ttyS0 once acpid listens (the script's READY_LINE).
READY_LINE = "OPENVRM-TINY-GUEST READY"


def tiny_iso() -> Path:
    """The tiny guest's bootable ISO, built first when it is missing or older than the script."""
    if not TINY_ISO.exists() or TINY_ISO.stat().st_mtime < BUILD_SCRIPT.stat().st_mtime:
        subprocess.run([str(BUILD_SCRIPT)], check=True)
    return TINY_ISO
