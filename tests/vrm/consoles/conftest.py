"""Fixtures of the console tests: a running VM on a host whose agent is a fake one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from tests.factories import add_host, add_vm
from tests.vrm.consoles.fake_agent import FakeAgent
from tests.vrm.scheduler.factories import add_cluster
from vrm.models import Host, Vm
from vrm.models.enums import VmState


@pytest.fixture
def agent() -> Iterator[FakeAgent]:
    """A fake agent console endpoint."""
    fake = FakeAgent()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def host(session: Session, agent: FakeAgent) -> Host:
    """A normal host whose agent is ``agent``."""
    host = add_host(session, add_cluster(session).id)
    host.agent_url = agent.url
    session.commit()
    return host


def running_vm(session: Session, host: Host, *, state: VmState = VmState.RUNNING) -> Vm:
    """A VM in ``state`` on ``host``."""
    vm = add_vm(session, host.cluster_id)
    vm.state, vm.host_id = state, host.id
    session.commit()
    return vm


@pytest.fixture
def vm(session: Session, host: Host) -> Vm:
    """A running VM on ``host``."""
    return running_vm(session, host)
