"""Internal (qcow2) snapshots of a domain, idempotent by name.

protocol.py has no snapshot report, so ``SnapshotInfo`` lives here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import libvirt

from cna_agent.protocol import DomainState, SnapshotSpec, Wire


class SnapshotInfo(Wire):
    """A snapshot as the node has it."""

    name: str
    description: str = ""
    created_at: datetime
    state: DomainState
    current: bool = False


def create(dom: libvirt.virDomain, spec: SnapshotSpec) -> SnapshotInfo:
    """Take an internal snapshot (with memory when running); an existing name is kept."""
    snap = find(dom, spec.name)
    if snap is None:
        root = ET.Element("domainsnapshot")
        ET.SubElement(root, "name").text = spec.name
        ET.SubElement(root, "description").text = spec.description
        snap = dom.snapshotCreateXML(ET.tostring(root, encoding="unicode"), 0)
    return info(snap)


def revert(dom: libvirt.virDomain, name: str) -> None:
    """Return the domain to a snapshot (running again if it was taken running)."""
    dom.revertToSnapshot(dom.snapshotLookupByName(name, 0), 0)


def delete(dom: libvirt.virDomain, name: str) -> None:
    """Delete a snapshot; an unknown name is already deleted."""
    snap = find(dom, name)
    if snap is not None:
        snap.delete(0)


def list_all(dom: libvirt.virDomain) -> list[SnapshotInfo]:
    """Every snapshot of the domain, oldest first."""
    found = [info(snap) for snap in dom.listAllSnapshots(0)]
    return sorted(found, key=lambda s: (s.created_at, s.name))


def find(dom: libvirt.virDomain, name: str) -> libvirt.virDomainSnapshot | None:
    """The snapshot called ``name``, or None."""
    names = {str(n) for n in dom.snapshotListNames(0)}
    return dom.snapshotLookupByName(name, 0) if name in names else None


def info(snap: libvirt.virDomainSnapshot) -> SnapshotInfo:
    """A snapshot's name, description, time and domain state."""
    root = ET.fromstring(str(snap.getXMLDesc(0)))
    return SnapshotInfo(
        name=root.findtext("name", ""),
        description=root.findtext("description", ""),
        created_at=datetime.fromtimestamp(int(root.findtext("creationTime", "0")), UTC),
        state=_state(root.findtext("state", "nostate")),
        current=bool(snap.isCurrent(0)),
    )


def _state(text: str) -> DomainState:
    # Snapshot states include "disk-snapshot", which is not a domain state.
    known = {state.value for state in DomainState}
    return DomainState(text) if text in known else DomainState.NOSTATE
