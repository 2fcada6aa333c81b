"""The API's migration request, and a cluster's migration defaults."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from cna_agent.protocol.migration import DEFAULT_DOWNTIME_STEPS_MS, MigrationPolicy


class MigrateBody(BaseModel):
    """``POST /vms/{id}/actions/migrate``: where to, and how (unset = the cluster's way)."""

    model_config = ConfigDict(extra="forbid")

    # The target; without one the scheduler picks the best host but the source.
    host_id: uuid.UUID | None = None
    bandwidth_mib_s: int | None = Field(default=None, ge=1, le=100_000)
    auto_converge: bool | None = None
    post_copy: bool | None = None


class ClusterMigration(BaseModel):
    """A cluster's migration defaults (``clusters.migration_policy``)."""

    model_config = ConfigDict(extra="forbid")

    bandwidth_mib_s: int | None = Field(default=None, ge=1, le=100_000)
    downtime_steps_ms: list[int] = Field(
        default_factory=lambda: list(DEFAULT_DOWNTIME_STEPS_MS), min_length=1, max_length=20
    )
    stall_iterations: int = Field(default=2, ge=1, le=100)
    auto_converge: bool = False
    post_copy: bool = False
    no_progress_timeout_s: float = Field(default=60.0, gt=0, le=3_600)

    def policy(self, body: MigrateBody, *, completion_timeout_s: float) -> MigrationPolicy:
        """The policy of one migration: the request's choices over the cluster's."""
        return MigrationPolicy(
            bandwidth_mib_s=body.bandwidth_mib_s or self.bandwidth_mib_s,
            downtime_steps_ms=self.downtime_steps_ms,
            stall_iterations=self.stall_iterations,
            auto_converge=_either(body.auto_converge, self.auto_converge),
            post_copy=_either(body.post_copy, self.post_copy),
            completion_timeout_s=completion_timeout_s,
            no_progress_timeout_s=self.no_progress_timeout_s,
        )


def _either(asked: bool | None, default: bool) -> bool:
    return default if asked is None else asked
