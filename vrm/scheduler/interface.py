"""What the rest of VRM asks of the scheduler, and what it answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from vrm.errors import Conflict


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """The resources a VM needs from a host."""

    cluster_id: uuid.UUID
    vcpus: int
    memory_mib: int
    # New volumes: MiB needed per datastore (None = the host's local datastore).
    disk_mib: dict[uuid.UUID | None, int] = field(default_factory=dict)
    # Port groups the VM's NICs use.
    port_group_ids: tuple[uuid.UUID, ...] = ()
    # The VM being placed (for affinity rules that name it); None for a new VM.
    vm_id: uuid.UUID | None = None
    # The operator asked for this host.
    host_id: uuid.UUID | None = None
    # Hosts to leave out (e.g. the source host of a migration).
    exclude: tuple[uuid.UUID, ...] = ()


class NoValidHost(Conflict):
    """No host passes every filter; ``details.hosts`` says, per host, which filter refused it."""

    def __init__(self, rejected: dict[str, str], *, message: str | None = None) -> None:
        super().__init__(
            message or f"no host can take this VM ({len(rejected)} considered)",
            code="no_valid_host",
            details={"hosts": rejected},
        )
