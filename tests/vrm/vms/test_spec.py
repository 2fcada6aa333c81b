"""What VRM asks a node to define: the cluster's named CPU model goes into the domain."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.factories import add_host, add_vm
from tests.vrm.scheduler.factories import add_cluster
from vrm.vms.repository import VmRepository
from vrm.vms.spec import domain_spec


def test_a_named_cluster_cpu_model_is_the_vms_and_host_model_names_none(
    session: Session,
) -> None:
    cluster = add_cluster(session)
    host = add_host(session, cluster.id)
    vm = add_vm(session, cluster.id)
    vm.host_id = host.id
    session.commit()
    full = VmRepository(session).full(vm.id)
    assert full is not None
    assert domain_spec(session, full).cpu_model is None, "host-model: libvirt's default"
    cluster.cpu_mode = "Westmere"
    session.commit()
    assert domain_spec(session, full).cpu_model == "Westmere"
