"""The API's migration request, and a cluster's migration defaults."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from cna_agent.protocol.migration import Convergence, MigrationPolicy


class MigrateBody(BaseModel):
    """``POST /vms/{id}/actions/migrate``: where to, and how (unset = the cluster's way)."""

    model_config = ConfigDict(extra="forbid")

    # The target; without one the scheduler picks the best host but the source.
    host_id: uuid.UUID | None = None
    # Move the disks to this datastore too (live: copied with the memory; cold: copied
    # by a node that reaches both datastores). Unset: they stay (shared storage).
    datastore_id: uuid.UUID | None = None
    bandwidth_mib_s: int | None = Field(default=None, ge=1, le=100_000)
    auto_converge: bool | None = None
    post_copy: bool | None = None


class ClusterMigration(Convergence):
    """A cluster's migration defaults (``clusters.migration_policy``)."""

    def policy(self, body: MigrateBody, *, completion_timeout_s: float) -> MigrationPolicy:
        """The policy of one migration: the request's choices over the cluster's."""
        return MigrationPolicy(
            **{
                **self.model_dump(),
                "bandwidth_mib_s": body.bandwidth_mib_s or self.bandwidth_mib_s,
                "auto_converge": _either(body.auto_converge, self.auto_converge),
                "post_copy": _either(body.post_copy, self.post_copy),
                "completion_timeout_s": completion_timeout_s,
            }
        )


def _either(asked: bool | None, default: bool) -> bool:
    return default if asked is None else asked
