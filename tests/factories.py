"""Small typed factories for rows the API cannot create yet (hosts come from agents).

They commit, as a real writer would; in tests that only releases a savepoint.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from vrm.models import Alarm, Datastore, Event, Host, HostDatastore, Task, Vm, Volume
from vrm.models.base import utcnow
from vrm.models.enums import (
    AlarmState,
    DatastoreType,
    HostState,
    ObjectState,
    Severity,
    TaskState,
)
from vrm.sites.repository import DEFAULT_SITE_ID


def add_host(session: Session, cluster_id: uuid.UUID, *, name: str | None = None) -> Host:
    """A normal host in ``cluster_id``."""
    label = name or f"host-{uuid.uuid4().hex[:8]}"
    host = Host(
        cluster_id=cluster_id,
        name=label,
        address="127.0.0.1",
        agent_url=f"http://127.0.0.1:7070/{label}",
        state=HostState.NORMAL,
        cpu_sockets=1,
        cpu_cores=4,
        cpu_threads=8,
        cpu_mhz=2400,
        memory_mib=16384,
    )
    session.add(host)
    session.commit()
    return host


def add_vm(session: Session, cluster_id: uuid.UUID, *, name: str | None = None) -> Vm:
    """A stopped VM in ``cluster_id``."""
    vm = Vm(
        cluster_id=cluster_id,
        name=name or f"vm-{uuid.uuid4().hex[:8]}",
        vcpus=1,
        max_vcpus=2,
        memory_mib=512,
        max_memory_mib=1024,
    )
    session.add(vm)
    session.commit()
    return vm


def add_datastore(session: Session, *, name: str | None = None) -> Datastore:
    """A local directory datastore in the default site."""
    label = name or f"ds-{uuid.uuid4().hex[:8]}"
    datastore = Datastore(
        site_id=DEFAULT_SITE_ID,
        name=label,
        type=DatastoreType.LOCAL_DIR,
        source=f"/var/lib/vrm/{label}",
    )
    session.add(datastore)
    session.commit()
    return datastore


def add_volume(
    session: Session,
    datastore_id: uuid.UUID,
    *,
    name: str | None = None,
    state: ObjectState = ObjectState.AVAILABLE,
    capacity_mib: int = 1024,
) -> Volume:
    """A volume in ``datastore_id``."""
    volume = Volume(
        datastore_id=datastore_id,
        name=name or f"vol-{uuid.uuid4().hex[:8]}",
        capacity_mib=capacity_mib,
        state=state,
    )
    session.add(volume)
    session.commit()
    return volume


def link_host_datastore(
    session: Session, host_id: uuid.UUID, datastore_id: uuid.UUID
) -> HostDatastore:
    """Record that ``host_id`` reaches ``datastore_id``."""
    link = HostDatastore(host_id=host_id, datastore_id=datastore_id, pool_name="pool")
    session.add(link)
    session.commit()
    return link


def add_task(
    session: Session,
    *,
    type: str = "vm.start",
    state: TaskState = TaskState.QUEUED,
    target_type: str = "vm",
    target_id: uuid.UUID | None = None,
    created_at: datetime | None = None,
) -> Task:
    """A task on ``target_type``/``target_id``."""
    task = Task(
        type=type,
        state=state,
        target_type=target_type,
        target_id=target_id,
        created_at=created_at or utcnow(),
    )
    session.add(task)
    session.commit()
    return task


def add_event(
    session: Session,
    *,
    type: str = "host.fault",
    severity: Severity = Severity.INFO,
    target_type: str | None = "host",
    target_id: uuid.UUID | None = None,
    created_at: datetime | None = None,
) -> Event:
    """An event about ``target_type``/``target_id``."""
    event = Event(
        type=type,
        severity=severity,
        message=f"{type} happened",
        target_type=target_type,
        target_id=target_id,
        created_at=created_at or utcnow(),
    )
    session.add(event)
    session.commit()
    return event


def add_alarm(
    session: Session,
    *,
    code: str = "host_fault",
    severity: Severity = Severity.MAJOR,
    state: AlarmState = AlarmState.ACTIVE,
    raised_at: datetime | None = None,
) -> Alarm:
    """An alarm in ``state``."""
    alarm = Alarm(
        code=code,
        severity=severity,
        state=state,
        message=f"{code} raised",
        target_type="host",
        target_id=uuid.uuid4(),
        raised_at=raised_at or utcnow(),
        cleared_at=utcnow() if state is AlarmState.CLEARED else None,
    )
    session.add(alarm)
    session.commit()
    return alarm
