"""What an image file really is, checked against what it was declared to be.

A crafted image must neither exhaust the node nor make QEMU read the node's files. So
we first look at the headers ourselves and refuse, before any QEMU code runs, the
formats that name other files (a qcow2 backing or data file, a VMDK descriptor); then
``qemu-img info`` probes the rest (never told ``-f``) under ``prlimit`` and a timeout.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
from typing import Any

from cna_agent.errors import InvalidSpec
from cna_agent.protocol.images import ImageFormat

# qemu-img runs with at most 1 GiB of address space and 30 s of CPU (and 60 s of time).
QEMU_IMG_LIMITS = ("prlimit", f"--as={1 << 30}", "--cpu=30")
INFO_TIMEOUT_S = 60.0
# ISO 9660: the primary volume descriptor (sector 16 of 2048 bytes) starts "\x01CD001".
ISO_SIGNATURE = b"CD001"
ISO_SIGNATURE_OFFSET = 16 * 2048 + 1
# How much of a file QEMU looks at to guess its format.
PROBE_BYTES = 2048

_QCOW_MAGIC = b"QFI\xfb"
_QCOW2_INCOMPAT_DATA_FILE = 1 << 2
_VMDK_MAGICS = (b"KDMV", b"COWD")
# A VMDK text descriptor as QEMU's probe recognizes it: comments and blank lines, then
# "version=N" (its extents may be any files of the node).
_VMDK_TEXT = re.compile(rb"(?:#[^\n]*\n| *\r?\n)*version=[123]\r?\n")


def validate(path: str, declared: ImageFormat) -> int:
    """The virtual size of an image file that really is what was ``declared``; else refuse."""
    _refuse_before_qemu(_read(path, 0, PROBE_BYTES), declared)
    info = qemu_img_info(path)
    detected = str(info.get("format", ""))
    expected = "raw" if declared is ImageFormat.ISO else declared.value
    if detected != expected:
        raise _mismatch(declared, detected, f"the file is {detected or 'unknown'}, not {declared}")
    if declared is ImageFormat.ISO and not is_iso9660(path):
        raise _mismatch(declared, detected, "the file is not ISO 9660 (no CD001 signature)")
    if declared is ImageFormat.QCOW2:
        refuse_info_references(info)
        if info.get("encrypted"):
            # A VM could not open it: the node has no key for it.
            raise InvalidSpec(
                "the qcow2 image is encrypted; upload it decrypted", code="image_encrypted"
            )
        return int(info["virtual-size"])
    return os.stat(path).st_size


def qemu_img_info(path: str) -> dict[str, Any]:
    """``qemu-img info`` of a file (its format probed), under resource limits."""
    info: dict[str, Any] = _info([path])
    return info


def backing_chain(path: str, fmt: str) -> list[dict[str, Any]]:
    """``qemu-img info --backing-chain`` of a volume of known format, under the same limits."""
    chain: list[dict[str, Any]] = _info(["--backing-chain", "-f", fmt, path])
    return chain


def _info(arguments: list[str]) -> Any:
    command = [*QEMU_IMG_LIMITS, "qemu-img", "info", "--output=json", *arguments]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=INFO_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise InvalidSpec("qemu-img took too long to read the image", code="image_invalid") from exc
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise InvalidSpec(f"the image cannot be read: {reason}", code="image_invalid")
    return json.loads(done.stdout)


def is_iso9660(path: str) -> bool:
    """Whether the file has the ISO 9660 signature where the standard puts it."""
    return _read(path, ISO_SIGNATURE_OFFSET, len(ISO_SIGNATURE)) == ISO_SIGNATURE


def _read(path: str, offset: int, size: int) -> bytes:
    with open(path, "rb") as file:
        file.seek(offset)
        return file.read(size)


def _refuse_before_qemu(head: bytes, declared: ImageFormat) -> None:
    """Refuse what names other files of the node before QEMU code opens it."""
    if head.startswith(_VMDK_MAGICS) or _VMDK_TEXT.match(head):
        raise _mismatch(declared, "vmdk", f"the file is vmdk, not {declared}")
    if not head.startswith(_QCOW_MAGIC) or len(head) < 20:
        return
    # qcow (v1) and qcow2 share the magic and where the backing file's name is given.
    version, backing_offset = struct.unpack_from(">IQ", head, 4)
    if backing_offset != 0:
        raise _references("a backing file")
    if version >= 3 and len(head) >= 80:
        (incompatible,) = struct.unpack_from(">Q", head, 72)
        if incompatible & _QCOW2_INCOMPAT_DATA_FILE:
            raise _references("an external data file")


def refuse_info_references(info: dict[str, Any]) -> None:
    """Refuse an image in which qemu-img found a backing file or an external data file."""
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise _references("a backing file")
    data = (info.get("format-specific") or {}).get("data") or {}
    if data.get("data-file"):
        raise _references("an external data file")


def _references(what: str) -> InvalidSpec:
    return InvalidSpec(
        f"the image names {what}; only self-contained images are taken",
        code="image_backing_file",
        details={"reference": what.split(" ", 1)[1]},
    )


def _mismatch(declared: ImageFormat, detected: str, message: str) -> InvalidSpec:
    return InvalidSpec(
        message,
        code="image_format_mismatch",
        details={"declared": declared.value, "detected": detected},
    )
