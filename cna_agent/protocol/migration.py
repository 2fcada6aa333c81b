"""The wire format of migrations between nodes.

VRM prepares the target (``PUT /v1/vms/{uuid}/incoming``: filtered NICs plumbed, the
cloud-init seed written, the paths of the domain's files on that node answered), then
asks the source to migrate (``POST /v1/vms/{uuid}/migrate``, a long operation whose
result is a ``MigrationReport``); ``POST /v1/vms/{uuid}/migrate/abort`` ends a running
one. ``POST /v1/host/cpu/compare`` says whether this node can run a CPU definition.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from cna_agent.protocol import Mac, ObjectName, Wire

DEFAULT_DOWNTIME_STEPS_MS = (100, 200, 300, 400, 500)


class Convergence(Wire):
    """How a live migration converges (a cluster's defaults are one of these)."""

    # Bandwidth cap of the migration stream; None = as fast as the link allows.
    bandwidth_mib_s: int | None = Field(default=None, ge=1, le=100_000)
    # Allowed pause at switch-over, stepped up while memory iterations stall.
    downtime_steps_ms: list[int] = Field(
        default_factory=lambda: list(DEFAULT_DOWNTIME_STEPS_MS), min_length=1, max_length=20
    )
    # Memory iterations without less memory remaining before the next downtime step.
    stall_iterations: int = Field(default=2, ge=1, le=100)
    # Throttle the guest's vCPUs when it dirties memory faster than it can be sent.
    auto_converge: bool = False
    # Switch to post-copy when the last downtime step does not converge.
    post_copy: bool = False
    # Aborted when nothing more has been transferred for this long.
    no_progress_timeout_s: float = Field(default=60.0, gt=0, le=3_600)

    @model_validator(mode="after")
    def _ascending(self) -> Self:
        if self.downtime_steps_ms != sorted(self.downtime_steps_ms):
            raise ValueError("downtime_steps_ms must not go down")
        if any(step < 1 or step > 60_000 for step in self.downtime_steps_ms):
            raise ValueError("each downtime step is 1 to 60000 ms")
        return self


class MigrationPolicy(Convergence):
    """One migration's convergence, and when it is given up."""

    # The whole migration must end within this; otherwise it is aborted.
    completion_timeout_s: float = Field(default=600.0, gt=0, le=86_400)
    # Copy the disks too (target storage is not shared).
    copy_storage: bool = False


class IncomingReady(Wire):
    """The target is ready for a domain: where its files are on this node."""

    # Disk device (vda, sdb, ...) -> the file on this node.
    disk_paths: dict[str, str] = Field(default_factory=dict)
    # The cloud-init seed ISO on this node, if the domain has one.
    seed_path: str | None = None


class MigrateRequest(Wire):
    """Migrate a running domain to another node (peer to peer, driven by this node)."""

    # libvirt URI of the target's daemon, e.g. qemu+tls://node2/system.
    dest_uri: str = Field(min_length=1, max_length=512)
    # The migration stream's URI on the target's address, e.g. tcp://192.0.2.12.
    migrate_uri: str = Field(min_length=1, max_length=512)
    policy: MigrationPolicy = Field(default_factory=MigrationPolicy)
    # Where the target keeps the domain's files (its IncomingReady).
    incoming: IncomingReady = Field(default_factory=IncomingReady)
    # Disks (vda, ...) whose data libvirt copies into the target's volumes at
    # ``incoming.disk_paths`` (they move to another datastore); the others are shared.
    copy_disks: list[str] = Field(default_factory=list, max_length=64)


class DiskCopy(Wire):
    """Copy a running domain's disk into a volume of this node (made beforehand, of the
    disk's size) and switch the domain onto it: a storage move on one host."""

    pool: ObjectName
    volume: ObjectName
    format: Literal["qcow2", "raw"] = "qcow2"
    bandwidth_mib_s: int | None = Field(default=None, ge=1, le=100_000)
    # The copy is abandoned (the domain stays on its disk) when it takes longer.
    timeout_s: float = Field(default=3_600.0, gt=0, le=86_400)


class Unplumb(Wire):
    """What a domain that left this node had here: the MACs of its filtered NICs (their
    bridge, veth and OVS port), and its seed. For a source whose agent lost track of a
    migration that did complete."""

    macs: list[Mac] = Field(default_factory=list, max_length=64)


class CpuCompare(Wire):
    """A CPU definition (libvirt ``<cpu>`` XML) to check against this node."""

    xml: str = Field(min_length=1, max_length=65_536)


class CpuCompatibility(Wire):
    """Whether this node can run the CPU compared, and libvirt's word for it."""

    compatible: bool
    detail: str = ""
