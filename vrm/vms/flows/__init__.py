"""The VM flows (listed for the task engine by ``vrm.flows``)."""

from vrm.tasks.flow import Flow
from vrm.vms.flows.clone import CloneFlow, ConvertToTemplateFlow
from vrm.vms.flows.create import CreateFlow
from vrm.vms.flows.delete import DeleteFlow
from vrm.vms.flows.devices import (
    AttachDiskFlow,
    AttachNicFlow,
    DetachDiskFlow,
    DetachNicFlow,
    SetIpsFlow,
)
from vrm.vms.flows.media import ChangeMediaFlow
from vrm.vms.flows.power import PauseFlow, RebootFlow, ResumeFlow, StartFlow, StopFlow
from vrm.vms.flows.resize import ResizeFlow
from vrm.vms.flows.snapshot import SnapshotFlow

FLOWS: tuple[type[Flow], ...] = (
    CreateFlow,
    StartFlow,
    StopFlow,
    RebootFlow,
    PauseFlow,
    ResumeFlow,
    ResizeFlow,
    AttachDiskFlow,
    DetachDiskFlow,
    AttachNicFlow,
    DetachNicFlow,
    SetIpsFlow,
    ChangeMediaFlow,
    SnapshotFlow,
    CloneFlow,
    ConvertToTemplateFlow,
    DeleteFlow,
)
