"""One VM's page: state, placement, resources, devices, snapshots, tasks, events, actions."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vrm.deps import SessionDep
from vrm.vms import views
from vrm.vms.schemas import VmRead
from vrm.vms.states import RULES, Operation
from vrm.web.deps import PageUser
from vrm.web.pages.tasks import task_words
from vrm.web.render import page
from vrm.web.tasks_repository import TaskPageRepository, VmPageRepository
from vrm.web.vm_create_repository import WizardRepository

router = APIRouter(include_in_schema=False)

# How many of the VM's latest tasks and events the page lists.
RECENT = 20
# How many port groups the attach-NIC menu offers.
PORT_GROUPS = 500
# What a template still allows (everything else answers 409 vm_is_template).
TEMPLATE_OPERATIONS = frozenset(
    {Operation.CLONE, Operation.EXPORT_IMAGE, Operation.MIGRATE, Operation.DELETE}
)


def enabled_operations(vm: VmRead) -> set[str]:
    """The operations the VM's state allows now (none while another one runs)."""
    if vm.task_state is not None:
        return set()
    return {
        op.value
        for op, rule in RULES.items()
        if vm.state in rule.allowed and (not vm.is_template or op in TEMPLATE_OPERATIONS)
    }


def state_rules() -> dict[str, list[str]]:
    """Each operation's allowed states, for the page's script (the same allow-lists)."""
    return {op.value: sorted(state.value for state in rule.allowed) for op, rule in RULES.items()}


@router.get("/vms/{vm_id}", response_class=HTMLResponse)
def vm_detail(
    request: Request, session: SessionDep, user: PageUser, vm_id: uuid.UUID
) -> HTMLResponse:
    """Everything about one VM, and a button for each operation (writers only)."""
    vm = views.vm_view(session, vm_id=vm_id)
    repo = VmPageRepository(session)
    names = TaskPageRepository(session)
    return page(
        request,
        "vms/detail.html",
        user=user,
        section="vms",
        vm=vm,
        host_name=names.name_of("host", vm.host_id),
        cluster_name=names.name_of("cluster", vm.cluster_id),
        volumes=repo.volumes([disk.volume_id for disk in vm.disks]),
        port_groups=repo.port_group_names({nic.port_group_id for nic in vm.nics}),
        images=repo.image_names({d.image_id for d in vm.cdroms if d.image_id is not None}),
        snapshots=repo.snapshots(vm.id),
        attachable_port_groups=WizardRepository(session).port_groups(PORT_GROUPS),
        migration_hosts=repo.migration_hosts(vm.cluster_id, vm.host_id),
        migration_datastores=repo.migration_datastores(vm.cluster_id),
        tasks=repo.tasks(vm.id, RECENT),
        events=repo.events(vm.id, RECENT),
        enabled=enabled_operations(vm),
        rules=state_rules(),
        template_operations=sorted(TEMPLATE_OPERATIONS),
        **task_words(),
    )
