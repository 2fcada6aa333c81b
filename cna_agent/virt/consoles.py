"""The libvirt side of consoles: where a running domain's VNC socket and its serial
port's pseudo-terminal are (both only in its live XML).

The serial console is not read through libvirt's console stream: without a libvirt
event loop (the agent runs none) a non-blocking stream's ``recv`` answers -2 for ever,
because nothing reads the connection's socket until some other call on that
connection happens to (measured on libvirt 9.0: 238 polls in 5 s got nothing while
the guest answered; one RPC call later the bytes were there). The agent opens the
pseudo-terminal QEMU gives ttyS0 instead, as root, and reads it without blocking.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt

from cna_agent.errors import NotFound, StateConflict
from cna_agent.protocol import ConsoleInfo
from cna_agent.virt.domxml import console_info, serial_pty


def console(dom: libvirt.virDomain) -> ConsoleInfo:
    """The consoles of a running domain; StateConflict when it is not running, NotFound
    ``console_not_found`` when it has none."""
    info = console_info(_live(dom))
    if info is None:
        raise NotFound(f"domain {dom.UUIDString()} has no console", code="console_not_found")
    return info


def serial_path(dom: libvirt.virDomain) -> str:
    """The pseudo-terminal of a running domain's first serial port (ttyS0)."""
    root = _live(dom)
    path = serial_pty(root)
    if path is None:
        raise NotFound(f"domain {dom.UUIDString()} has no serial port", code="console_not_found")
    return path


def _live(dom: libvirt.virDomain) -> ET.Element:
    root = ET.fromstring(str(dom.XMLDesc(0)))
    if root.get("id") is None:
        raise StateConflict(f"domain {dom.UUIDString()} is not running: no console")
    return root
