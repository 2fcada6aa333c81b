"""Switch rules: DVS names unique per site, port group names per DVS, no deletion in use."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.crud import apply_update, ensure_unique, get_or_404, get_ref_or_422
from vrm.errors import Conflict, ServiceUnavailable, ValidationFailed
from vrm.listing import ListParams
from vrm.models import Dvs, PortGroup
from vrm.network.push import push_site
from vrm.network.repository import (
    DvsRepository,
    IpPoolRepository,
    PortGroupRepository,
    VmNicRepository,
)
from vrm.network.schemas import (
    DvsCreate,
    DvsUpdate,
    PortGroupCreate,
    PortGroupUpdate,
    check_native_vlan,
)
from vrm.sites.repository import DEFAULT_SITE_ID, SiteRepository

DVS = "dvs"
PORT_GROUP = "port group"
_BRIDGE_ATTEMPTS = 8


def _dvs_name_taken(name: str) -> str:
    return f"a DVS named {name!r} already exists in this site"


def _port_group_name_taken(name: str) -> str:
    return f"a port group named {name!r} already exists on this DVS"


def list_dvs(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[Dvs], int]:
    """A page of distributed virtual switches."""
    return DvsRepository(session).page(params, filters)


def get_dvs(session: Session, *, dvs_id: uuid.UUID) -> Dvs:
    """One DVS, or 404."""
    return get_or_404(DvsRepository(session), dvs_id, DVS)


def create_dvs(session: Session, *, actor: Principal, data: DvsCreate) -> Dvs:
    """Create a DVS in its site, generating a bridge name when none is given."""
    site = get_ref_or_422(
        SiteRepository(session), data.site_id or DEFAULT_SITE_ID, "site", "site_id"
    )
    _check_uplink_is_not_bridge(data.uplink, data.bridge)
    repo = DvsRepository(session)
    ensure_unique(repo, _dvs_name_taken(data.name), site_id=site.id, name=data.name)
    bridge = data.bridge or _free_bridge_name(repo)
    if data.bridge is not None and repo.get_by(bridge=bridge) is not None:
        raise Conflict(f"bridge {bridge!r} is used by another DVS", code="bridge_conflict")
    _check_uplink_free(repo, site.id, data.uplink, exclude=None)
    dvs = Dvs(**data.model_dump(exclude={"site_id", "bridge"}), site_id=site.id, bridge=bridge)
    repo.add(dvs, conflict=f"a DVS named {data.name!r} or with bridge {bridge!r} exists")
    record(session, actor=actor, action="dvs.create", target_type=DVS, target_id=dvs.id)
    push_site(session, dvs.site_id, user_id=actor.user_id)
    return dvs


def update_dvs(session: Session, *, actor: Principal, dvs_id: uuid.UUID, data: DvsUpdate) -> Dvs:
    """Rename a DVS or change its uplink or MTU."""
    repo = DvsRepository(session)
    dvs = get_or_404(repo, dvs_id, DVS)
    if "uplink" in data.model_fields_set:
        _check_uplink_is_not_bridge(data.uplink, dvs.bridge)
    if data.name is not None and data.name != dvs.name:
        ensure_unique(repo, _dvs_name_taken(data.name), site_id=dvs.site_id, name=data.name)
    if data.uplink is not None and data.uplink != dvs.uplink:
        _check_uplink_free(repo, dvs.site_id, data.uplink, exclude=dvs.id)
    changes = apply_update(dvs, data)
    repo.flush(conflict=_dvs_name_taken(dvs.name))
    record(
        session,
        actor=actor,
        action="dvs.update",
        target_type=DVS,
        target_id=dvs.id,
        details=changes,
    )
    push_site(session, dvs.site_id, user_id=actor.user_id)
    return dvs


def delete_dvs(session: Session, *, actor: Principal, dvs_id: uuid.UUID) -> None:
    """Delete a DVS without port groups; 409 ``dvs_in_use`` otherwise."""
    repo = DvsRepository(session)
    dvs = get_or_404(repo, dvs_id, DVS)
    port_groups = PortGroupRepository(session).count(dvs_id=dvs.id)
    if port_groups:
        raise Conflict(
            f"DVS {dvs.name!r} still has {port_groups} port group(s)",
            code="dvs_in_use",
            details={"port_groups": port_groups},
        )
    site_id, bridge = dvs.site_id, dvs.bridge
    repo.delete(dvs, conflict=f"DVS {dvs.name!r} is still in use")
    record(session, actor=actor, action="dvs.delete", target_type=DVS, target_id=dvs_id)
    push_site(session, site_id, user_id=actor.user_id, remove=[bridge])


def _free_bridge_name(repo: DvsRepository) -> str:
    """A bridge name ("ovs-" and 8 hex digits) no DVS uses yet."""
    for _ in range(_BRIDGE_ATTEMPTS):
        bridge = f"ovs-{secrets.token_hex(4)}"
        if repo.get_by(bridge=bridge) is None:
            return bridge
    raise ServiceUnavailable("could not find a free bridge name; try again")


def _check_uplink_is_not_bridge(uplink: str | None, bridge: str | None) -> None:
    """422: a bridge cannot be its own uplink."""
    if uplink is not None and uplink == bridge:
        raise ValidationFailed(
            f"uplink: {uplink!r} is the DVS's own bridge",
            code="invalid_uplink",
            details={"field": "uplink", "value": uplink},
        )


def _check_uplink_free(
    repo: DvsRepository, site_id: uuid.UUID, uplink: str | None, *, exclude: uuid.UUID | None
) -> None:
    """409 ``uplink_in_use``: a node's NIC can be a port of one bridge only."""
    if uplink is None:
        return
    other = repo.get_by(site_id=site_id, uplink=uplink)
    if other is not None and other.id != exclude:
        raise Conflict(
            f"uplink {uplink!r} already serves DVS {other.name!r} in this site",
            code="uplink_in_use",
            details={"dvs_id": str(other.id)},
        )


def list_port_groups(
    session: Session, *, params: ListParams, filters: Mapping[str, object]
) -> tuple[Sequence[PortGroup], int]:
    """A page of port groups."""
    return PortGroupRepository(session).page(params, filters)


def get_port_group(session: Session, *, port_group_id: uuid.UUID) -> PortGroup:
    """One port group, or 404."""
    return get_or_404(PortGroupRepository(session), port_group_id, PORT_GROUP)


def create_port_group(session: Session, *, actor: Principal, data: PortGroupCreate) -> PortGroup:
    """Create a port group on an existing DVS."""
    dvs = get_ref_or_422(DvsRepository(session), data.dvs_id, DVS, "dvs_id")
    repo = PortGroupRepository(session)
    ensure_unique(repo, _port_group_name_taken(data.name), dvs_id=dvs.id, name=data.name)
    port_group = PortGroup(**data.model_dump())
    repo.add(port_group, conflict=_port_group_name_taken(data.name))
    record(
        session,
        actor=actor,
        action="port_group.create",
        target_type=PORT_GROUP,
        target_id=port_group.id,
    )
    push_site(session, dvs.site_id, user_id=actor.user_id)
    return port_group


def update_port_group(
    session: Session, *, actor: Principal, port_group_id: uuid.UUID, data: PortGroupUpdate
) -> PortGroup:
    """Rename a port group or change its VLAN."""
    repo = PortGroupRepository(session)
    port_group = get_or_404(repo, port_group_id, PORT_GROUP)
    if data.name is not None and data.name != port_group.name:
        ensure_unique(
            repo, _port_group_name_taken(data.name), dvs_id=port_group.dvs_id, name=data.name
        )
    changes = apply_update(port_group, data)
    try:
        check_native_vlan(port_group.vlan_id, list(port_group.trunk_vlans))
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="vlan_in_trunk") from exc
    repo.flush(conflict=_port_group_name_taken(port_group.name))
    record(
        session,
        actor=actor,
        action="port_group.update",
        target_type=PORT_GROUP,
        target_id=port_group.id,
        details=changes,
    )
    _push_dvs(session, port_group.dvs_id, actor)
    return port_group


def delete_port_group(session: Session, *, actor: Principal, port_group_id: uuid.UUID) -> None:
    """Delete a port group no NIC and no IP pool uses; 409 ``port_group_in_use`` otherwise."""
    repo = PortGroupRepository(session)
    port_group = get_or_404(repo, port_group_id, PORT_GROUP)
    nics = VmNicRepository(session).count(port_group_id=port_group.id)
    pools = IpPoolRepository(session).count(port_group_id=port_group.id)
    if nics or pools:
        users = [f"{n} {what}" for n, what in ((nics, "VM NIC(s)"), (pools, "IP pool(s)")) if n]
        raise Conflict(
            f"port group {port_group.name!r} is used by {' and '.join(users)}",
            code="port_group_in_use",
            details={"nics": nics, "ip_pools": pools},
        )
    repo.delete(port_group, conflict=f"port group {port_group.name!r} is still in use")
    record(
        session,
        actor=actor,
        action="port_group.delete",
        target_type=PORT_GROUP,
        target_id=port_group_id,
    )
    _push_dvs(session, port_group.dvs_id, actor)


def _push_dvs(session: Session, dvs_id: uuid.UUID, actor: Principal) -> None:
    """Queue the network sync of every host of the DVS's site."""
    dvs = get_or_404(DvsRepository(session), dvs_id, DVS)
    push_site(session, dvs.site_id, user_id=actor.user_id)
