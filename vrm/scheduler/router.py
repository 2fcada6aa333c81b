"""``/api/v1/placement-rules``: affinity, anti-affinity and VM-to-host rules of clusters."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from vrm.deps import CurrentUser, SessionDep, Writer
from vrm.errors import Conflict, Forbidden, NotFound, ValidationFailed, error_responses
from vrm.listing import ListDep, TextFilter
from vrm.models.enums import RuleKind
from vrm.scheduler import rules
from vrm.scheduler.schemas import PlacementRuleCreate, PlacementRuleRead, PlacementRuleUpdate
from vrm.schemas import Page

router = APIRouter(prefix="/placement-rules", tags=["placement rules"])


def _read(detail: rules.RuleDetail) -> PlacementRuleRead:
    return PlacementRuleRead.of(detail.rule, detail.vm_ids, detail.host_ids)


@router.get("", responses=error_responses(ValidationFailed))
def list_placement_rules(
    session: SessionDep,
    _user: CurrentUser,
    params: ListDep,
    cluster_id: uuid.UUID | None = None,
    kind: RuleKind | None = None,
    enabled: bool | None = None,
    name: TextFilter = None,
) -> Page[PlacementRuleRead]:
    """List placement rules, filtered by cluster, kind, enabled or name."""
    filters = {"cluster_id": cluster_id, "kind": kind, "enabled": enabled, "name": name}
    items, total = rules.list_rules(session, params=params, filters=filters)
    return Page(items=[_read(detail) for detail in items], total=total)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(Conflict, Forbidden, ValidationFailed),
)
def create_placement_rule(
    session: SessionDep, user: Writer, data: PlacementRuleCreate
) -> PlacementRuleRead:
    """Create a placement rule in a cluster."""
    return _read(rules.create_rule(session, actor=user, data=data))


@router.get("/{rule_id}", responses=error_responses(NotFound))
def get_placement_rule(
    session: SessionDep, _user: CurrentUser, rule_id: uuid.UUID
) -> PlacementRuleRead:
    """One placement rule."""
    return _read(rules.get_rule(session, rule_id=rule_id))


@router.patch(
    "/{rule_id}", responses=error_responses(Conflict, Forbidden, NotFound, ValidationFailed)
)
def update_placement_rule(
    session: SessionDep, user: Writer, rule_id: uuid.UUID, data: PlacementRuleUpdate
) -> PlacementRuleRead:
    """Rename, enable or disable a rule, or change its VMs or hosts."""
    return _read(rules.update_rule(session, actor=user, rule_id=rule_id, data=data))


@router.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Conflict, Forbidden, NotFound),
)
def delete_placement_rule(session: SessionDep, user: Writer, rule_id: uuid.UUID) -> None:
    """Delete a placement rule."""
    rules.delete_rule(session, actor=user, rule_id=rule_id)
