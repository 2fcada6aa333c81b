"""Keeping ``hosts.placed_vcpus`` and ``hosts.placed_memory_mib`` equal to the sums over
the VMs placed on each host (templates aside), whatever code path changes a VM.

One listener on every session's flush turns the VM rows being inserted, changed or
deleted into increments of their hosts' counters, in the same transaction: a rollback
undoes both. Increments (not recomputed sums) keep concurrent transactions correct.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any, cast

from sqlalchemy import Table, event, select, update
from sqlalchemy.orm import Session

from vrm.models.compute import Vm
from vrm.models.inventory import Host

Claim = tuple[uuid.UUID, int, int]


def _claim(host_id: Any, target: Any, vcpus: Any, memory: Any, template: Any) -> list[Claim]:
    """What a VM with these values takes from hosts: its own, and a migration's target."""
    if template:
        return []
    hosts = [h for h in {host_id, target} if h is not None]
    return [(h, int(vcpus or 0), int(memory or 0)) for h in hosts]


def _now(vm: Vm) -> list[Claim]:
    """The claims of the VM as this flush will write it."""
    return _claim(vm.host_id, vm.migration_target_host_id, vm.vcpus, vm.memory_mib, vm.is_template)


def _stored(session: Session, vms: list[Vm]) -> dict[uuid.UUID, list[Claim]]:
    """The claims of persistent VMs as the database has them (before this flush)."""
    if not vms:
        return {}
    table = cast(Table, Vm.__table__)
    stmt = select(
        table.c.id,
        table.c.host_id,
        table.c.migration_target_host_id,
        table.c.vcpus,
        table.c.memory_mib,
        table.c.is_template,
    ).where(table.c.id.in_([vm.id for vm in vms]))
    return {row[0]: _claim(*row[1:]) for row in session.connection().execute(stmt)}


def _deltas(session: Session) -> dict[uuid.UUID, list[int]]:
    deltas: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0])
    gone = [vm for vm in session.deleted if isinstance(vm, Vm)]
    changed = [
        vm
        for vm in session.dirty
        if isinstance(vm, Vm) and vm not in session.deleted and session.is_modified(vm)
    ]
    before = _stored(session, changed + gone)
    changes: list[tuple[list[Claim], int]] = [(before.get(vm.id, []), -1) for vm in changed + gone]
    changes += [(_now(vm), 1) for vm in changed]
    changes += [(_now(vm), 1) for vm in session.new if isinstance(vm, Vm)]
    for claims, sign in changes:
        for host_id, vcpus, memory in claims:
            deltas[host_id][0] += sign * vcpus
            deltas[host_id][1] += sign * memory
    return deltas


@event.listens_for(Session, "before_flush")
def _count(session: Session, _context: Any, _instances: Any) -> None:
    """Turn this flush's VM changes into counter increments on their hosts."""
    hosts = cast(Table, Host.__table__)
    for host_id, (vcpus, memory) in _deltas(session).items():
        if vcpus or memory:
            # On the connection, not the session: no autoflush from inside a flush.
            stmt = (
                update(hosts)
                .where(hosts.c.id == host_id)
                .values(
                    placed_vcpus=hosts.c.placed_vcpus + vcpus,
                    placed_memory_mib=hosts.c.placed_memory_mib + memory,
                )
            )
            session.connection().execute(stmt)
