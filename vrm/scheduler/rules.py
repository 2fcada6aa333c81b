"""Placement rule rules: names unique per cluster, members of the cluster, enough of them.

- affinity / anti-affinity: at least two VMs, no hosts;
- host_must / host_must_not: at least one VM and one host.

Every VM and host a rule names belongs to the rule's cluster; templates are never placed,
so a rule cannot name one. Rules that today's placement already breaks are accepted: they
bind the next placement of their VMs (DRS is what moves VMs that run).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.clusters.repository import ClusterRepository
from vrm.crud import ensure_unique, get_or_404, get_ref_or_422
from vrm.errors import ValidationFailed
from vrm.listing import ListParams
from vrm.models import PlacementRule
from vrm.models.base import utcnow
from vrm.models.enums import RuleKind
from vrm.scheduler.repository import PlacementRuleRepository
from vrm.scheduler.schemas import PlacementRuleCreate, PlacementRuleUpdate

KIND = "placement rule"
TARGET = "placement_rule"
HOST_KINDS = frozenset({RuleKind.HOST_MUST, RuleKind.HOST_MUST_NOT})
_SETTABLE = ("name", "enabled")


@dataclass(frozen=True, slots=True)
class RuleDetail:
    """A rule with the ids of its VMs and hosts, sorted."""

    rule: PlacementRule
    vm_ids: list[uuid.UUID]
    host_ids: list[uuid.UUID]


def _name_taken(name: str) -> str:
    return f"a placement rule named {name!r} already exists in this cluster"


def list_rules(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[list[RuleDetail], int]:
    """A page of placement rules with their members."""
    repo = PlacementRuleRepository(session)
    rules, total = repo.page(params, filters)
    return _details(repo, rules), total


def get_rule(session: Session, *, rule_id: uuid.UUID) -> RuleDetail:
    """One placement rule with its members, or 404."""
    repo = PlacementRuleRepository(session)
    return _details(repo, [get_or_404(repo, rule_id, KIND)])[0]


def create_rule(session: Session, *, actor: Principal, data: PlacementRuleCreate) -> RuleDetail:
    """Create a rule in its cluster, naming VMs and hosts of that cluster."""
    cluster = get_ref_or_422(ClusterRepository(session), data.cluster_id, "cluster", "cluster_id")
    repo = PlacementRuleRepository(session)
    _check_members(repo, cluster.id, data.kind, data.vm_ids, data.host_ids)
    ensure_unique(repo, _name_taken(data.name), cluster_id=cluster.id, name=data.name)
    rule = PlacementRule(
        cluster_id=cluster.id, name=data.name, kind=data.kind, enabled=data.enabled
    )
    repo.add(rule, conflict=_name_taken(data.name))
    _set_members(repo, rule, data.vm_ids, data.host_ids)
    record(session, actor=actor, action=f"{TARGET}.create", target_type=TARGET, target_id=rule.id)
    return RuleDetail(rule, sorted(data.vm_ids), sorted(data.host_ids))


def update_rule(
    session: Session, *, actor: Principal, rule_id: uuid.UUID, data: PlacementRuleUpdate
) -> RuleDetail:
    """Rename, enable or disable a rule, or change its VMs or hosts."""
    repo = PlacementRuleRepository(session)
    current = _details(repo, [get_or_404(repo, rule_id, KIND)])[0]
    rule = current.rule
    vm_ids = current.vm_ids if data.vm_ids is None else data.vm_ids
    host_ids = current.host_ids if data.host_ids is None else data.host_ids
    _check_members(repo, rule.cluster_id, rule.kind, vm_ids, host_ids)
    if data.name is not None and data.name != rule.name:
        ensure_unique(repo, _name_taken(data.name), cluster_id=rule.cluster_id, name=data.name)
    changes = _apply(repo, rule, data, vm_ids, host_ids)
    record(
        session,
        actor=actor,
        action=f"{TARGET}.update",
        target_type=TARGET,
        target_id=rule.id,
        details=changes,
    )
    return RuleDetail(rule, sorted(vm_ids), sorted(host_ids))


def delete_rule(session: Session, *, actor: Principal, rule_id: uuid.UUID) -> None:
    """Delete a rule (its VMs and hosts stay as they are)."""
    repo = PlacementRuleRepository(session)
    rule = get_or_404(repo, rule_id, KIND)
    repo.delete(rule, conflict=f"placement rule {rule.name!r} changed meanwhile")
    record(session, actor=actor, action=f"{TARGET}.delete", target_type=TARGET, target_id=rule_id)


def _details(repo: PlacementRuleRepository, rules: Sequence[PlacementRule]) -> list[RuleDetail]:
    """The rules with their members, loaded in two queries."""
    vms, hosts = repo.members([rule.id for rule in rules])
    return [RuleDetail(rule, vms[rule.id], hosts[rule.id]) for rule in rules]


def _apply(
    repo: PlacementRuleRepository,
    rule: PlacementRule,
    data: PlacementRuleUpdate,
    vm_ids: Sequence[uuid.UUID],
    host_ids: Sequence[uuid.UUID],
) -> dict[str, object]:
    """Write the fields the client sent; return them as JSON (for the audit trail)."""
    changes = data.model_dump(mode="json", exclude_unset=True)
    for field in _SETTABLE:
        if field in changes:
            setattr(rule, field, getattr(data, field))
    if changes.keys() & {"vm_ids", "host_ids"}:
        rule.updated_at = utcnow()
        _set_members(repo, rule, vm_ids, host_ids)
    repo.flush(conflict=_name_taken(rule.name))
    return changes


def _set_members(
    repo: PlacementRuleRepository,
    rule: PlacementRule,
    vm_ids: Sequence[uuid.UUID],
    host_ids: Sequence[uuid.UUID],
) -> None:
    """Make ``vm_ids`` and ``host_ids`` the rule's members."""
    repo.replace_vms(rule.id, vm_ids)
    repo.replace_hosts(rule.id, host_ids)
    repo.flush(conflict=f"a VM or host of rule {rule.name!r} was removed meanwhile")


def _check_members(
    repo: PlacementRuleRepository,
    cluster_id: uuid.UUID,
    kind: RuleKind,
    vm_ids: Sequence[uuid.UUID],
    host_ids: Sequence[uuid.UUID],
) -> None:
    """422 unless the rule names enough members for its kind, all in ``cluster_id``."""
    _check_counts(kind, vm_ids, host_ids)
    vms = repo.vm_clusters(vm_ids)
    _refuse(
        [v for v in vm_ids if v not in vms or vms[v][0] != cluster_id],
        "vm_ids",
        "vm_not_in_cluster",
        "VM(s) not in the rule's cluster",
    )
    _refuse([v for v in vm_ids if vms[v][1]], "vm_ids", "vm_is_template", "templates")
    hosts = repo.host_clusters(host_ids)
    _refuse(
        [h for h in host_ids if hosts.get(h) != cluster_id],
        "host_ids",
        "host_not_in_cluster",
        "host(s) not in the rule's cluster",
    )


def _check_counts(
    kind: RuleKind, vm_ids: Sequence[uuid.UUID], host_ids: Sequence[uuid.UUID]
) -> None:
    """Host rules need hosts and a VM; VM rules need two VMs and take no hosts."""
    if kind in HOST_KINDS:
        _require(bool(host_ids), "host_ids", "rule_needs_hosts", f"a {kind} rule needs hosts")
        _require(bool(vm_ids), "vm_ids", "rule_needs_vms", f"a {kind} rule needs a VM")
        return
    _require(len(vm_ids) >= 2, "vm_ids", "rule_needs_vms", f"an {kind} rule needs two VMs")
    _require(not host_ids, "host_ids", "rule_hosts_not_allowed", f"an {kind} rule has no hosts")


def _require(ok: bool, field: str, code: str, message: str) -> None:
    if not ok:
        raise ValidationFailed(f"{field}: {message}", code=code, details={"field": field})


def _refuse(bad: list[uuid.UUID], field: str, code: str, what: str) -> None:
    if bad:
        raise ValidationFailed(
            f"{field}: {what}: {', '.join(str(b) for b in bad)}",
            code=code,
            details={"field": field, "ids": [str(b) for b in bad]},
        )
