"""VMs as the API shows them, read as plain rows: no ORM objects on the read path.

A page of 100 VMs is five statements (VMs, disks, CD-ROMs, NICs with their VLAN,
addresses), assembled into ``VmRead`` models without validating what the database
already holds.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

from vrm.errors import NotFound
from vrm.listing import ListParams
from vrm.schemas import Page
from vrm.vms.repository import VmRepository
from vrm.vms.schemas import CdromRead, DiskRead, NicRead, VmRead


def vm_page(session: Session, *, params: ListParams, filters: Mapping[str, object]) -> Page[VmRead]:
    """A page of VMs with their disks and NICs."""
    rows, total = VmRepository(session).read_page(params, filters)
    return Page[VmRead].model_construct(items=_assemble(session, rows), total=total)


def vm_view(session: Session, *, vm_id: uuid.UUID) -> VmRead:
    """One VM with its disks and NICs, or 404."""
    row = VmRepository(session).read_one(vm_id)
    if row is None:
        raise NotFound.of("vm", vm_id)
    return _assemble(session, [row])[0]


def _assemble(session: Session, rows: Sequence[RowMapping]) -> list[VmRead]:
    if not rows:
        return []
    repo = VmRepository(session)
    ids = [row["id"] for row in rows]
    disks: dict[uuid.UUID, list[DiskRead]] = defaultdict(list)
    for disk in repo.disk_rows(ids):
        disks[disk["vm_id"]].append(DiskRead.model_construct(**_without(disk, "vm_id")))
    cdroms: dict[uuid.UUID, list[CdromRead]] = defaultdict(list)
    for drive in repo.cdrom_rows(ids):
        cdroms[drive["vm_id"]].append(CdromRead.model_construct(**_without(drive, "vm_id")))
    nics = repo.nic_rows(ids)
    ips: dict[uuid.UUID, list[str]] = defaultdict(list)
    for address in repo.address_rows([nic["id"] for nic in nics]) if nics else ():
        ips[address["nic_id"]].append(address["address"])
    nic_reads: dict[uuid.UUID, list[NicRead]] = defaultdict(list)
    for nic in nics:
        fields = _without(nic, "vm_id")
        nic_reads[nic["vm_id"]].append(NicRead.model_construct(**fields, ips=ips[nic["id"]]))
    return [
        VmRead.model_construct(
            **row, disks=disks[row["id"]], cdroms=cdroms[row["id"]], nics=nic_reads[row["id"]]
        )
        for row in rows
    ]


def _without(row: RowMapping, key: str) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name != key}
