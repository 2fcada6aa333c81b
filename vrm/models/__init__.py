"""All ORM models; importing this package registers every table on ``Base.metadata``."""

from vrm.models.auth import ApiToken, AuditRecord, EnrollmentToken, Role, User
from vrm.models.base import Base
from vrm.models.compute import (
    PlacementRule,
    PlacementRuleHost,
    PlacementRuleVm,
    Vm,
    VmCdrom,
    VmDisk,
    VmNic,
    VmSnapshot,
)
from vrm.models.images import ConsoleTicket, Image
from vrm.models.inventory import Cluster, Host, HostReconciliation, Site
from vrm.models.network import Dvs, IpAllocation, IpPool, IpRange, PortGroup
from vrm.models.processes import VrmProcess
from vrm.models.storage import Datastore, HostDatastore, Volume
from vrm.models.tasks import Alarm, Event, Task

# Registers the listener that keeps hosts' placed vCPUs and memory current.
from vrm.models import placed  # noqa: E402, F401  isort: skip

__all__ = [
    "Alarm",
    "ApiToken",
    "AuditRecord",
    "Base",
    "Cluster",
    "ConsoleTicket",
    "Datastore",
    "Dvs",
    "EnrollmentToken",
    "Event",
    "Host",
    "HostDatastore",
    "HostReconciliation",
    "Image",
    "IpAllocation",
    "IpPool",
    "IpRange",
    "PlacementRule",
    "PlacementRuleHost",
    "PlacementRuleVm",
    "PortGroup",
    "Role",
    "Site",
    "Task",
    "User",
    "Vm",
    "VmCdrom",
    "VmDisk",
    "VmNic",
    "VmSnapshot",
    "Volume",
    "VrmProcess",
]
