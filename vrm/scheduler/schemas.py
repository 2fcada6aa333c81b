"""Placement rule API schemas."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from vrm.models import PlacementRule
from vrm.models.enums import RuleKind
from vrm.schemas import CreateModel, Name, ReadModel, UpdateModel

MAX_MEMBERS = 256


def _distinct(values: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat an id")
    return values


IdList = Annotated[list[uuid.UUID], Field(max_length=MAX_MEMBERS), AfterValidator(_distinct)]


class PlacementRuleCreate(CreateModel):
    """A new rule: VMs together (affinity), apart (anti-affinity), on or off some hosts."""

    cluster_id: uuid.UUID
    name: Name
    kind: RuleKind
    enabled: bool = True
    vm_ids: IdList = Field(default_factory=list, description="VMs of the cluster")
    host_ids: IdList = Field(
        default_factory=list, description="Hosts of the cluster (host_must, host_must_not)"
    )


class PlacementRuleUpdate(UpdateModel):
    """Changes to a rule; its cluster and kind are fixed once created."""

    name: Name | None = None
    enabled: bool | None = None
    vm_ids: IdList | None = None
    host_ids: IdList | None = None


class PlacementRuleRead(ReadModel):
    """A placement rule as the API shows it."""

    id: uuid.UUID
    cluster_id: uuid.UUID
    name: str
    kind: RuleKind
    enabled: bool
    vm_ids: list[uuid.UUID]
    host_ids: list[uuid.UUID]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(
        cls, rule: PlacementRule, vm_ids: Sequence[uuid.UUID], host_ids: Sequence[uuid.UUID]
    ) -> PlacementRuleRead:
        """The read model of ``rule`` with its members."""
        return cls(
            id=rule.id,
            cluster_id=rule.cluster_id,
            name=rule.name,
            kind=rule.kind,
            enabled=rule.enabled,
            vm_ids=list(vm_ids),
            host_ids=list(host_ids),
            created_at=rule.created_at,
            updated_at=rule.updated_at,
        )
