"""What the VM create wizard offers: clusters, hosts, images, templates, datastores and
port groups, each as a short list of plain rows (the page stays fast however large the
inventory is; the lists are cut at a limit and the page says so)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import RowMapping, select
from sqlalchemy.orm import Session

from vrm.models import Cluster, Datastore, Dvs, Host, HostDatastore, Image, IpPool, PortGroup, Vm
from vrm.models.enums import ImageFormat, ImageState


class WizardRepository:
    """The choices of the VM create wizard."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def clusters(self, limit: int) -> Sequence[RowMapping]:
        """Clusters by name, with their site."""
        stmt = select(Cluster.id, Cluster.name, Cluster.site_id).order_by(Cluster.name, Cluster.id)
        return self.session.execute(stmt.limit(limit)).mappings().all()

    def hosts(self, limit: int) -> Sequence[RowMapping]:
        """Hosts by name, with their cluster and state."""
        stmt = select(Host.id, Host.name, Host.cluster_id, Host.state).order_by(Host.name, Host.id)
        return self.session.execute(stmt.limit(limit)).mappings().all()

    def images(self, formats: Sequence[ImageFormat], limit: int) -> Sequence[RowMapping]:
        """Ready images of ``formats`` by name."""
        stmt = (
            select(
                Image.id,
                Image.name,
                Image.format,
                Image.os_hint,
                Image.datastore_id,
                Image.virtual_size_bytes,
                Image.size_bytes,
            )
            .where(Image.state == ImageState.READY, Image.format.in_(formats))
            .order_by(Image.name, Image.id)
        )
        return self.session.execute(stmt.limit(limit)).mappings().all()

    def templates(self, limit: int) -> Sequence[RowMapping]:
        """Templates by name, with their cluster and size."""
        stmt = (
            select(Vm.id, Vm.name, Vm.cluster_id, Vm.vcpus, Vm.memory_mib)
            .where(Vm.is_template.is_(True))
            .order_by(Vm.name, Vm.id)
        )
        return self.session.execute(stmt.limit(limit)).mappings().all()

    def datastores(self, limit: int) -> Sequence[RowMapping]:
        """Datastores by name, with their capacity and allocation."""
        stmt = select(
            Datastore.id,
            Datastore.name,
            Datastore.type,
            Datastore.state,
            Datastore.capacity_mib,
            Datastore.allocated_mib,
        ).order_by(Datastore.name, Datastore.id)
        return self.session.execute(stmt.limit(limit)).mappings().all()

    def datastore_clusters(self, datastore_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
        """For each datastore, the ids (as text) of the clusters whose hosts reach it."""
        found: dict[uuid.UUID, set[str]] = defaultdict(set)
        if not datastore_ids:
            return found
        stmt = (
            select(HostDatastore.datastore_id, Host.cluster_id)
            .join(Host, Host.id == HostDatastore.host_id)
            .where(HostDatastore.datastore_id.in_(datastore_ids))
            .distinct()
        )
        for datastore_id, cluster_id in self.session.execute(stmt):
            found[datastore_id].add(str(cluster_id))
        return found

    def port_groups(self, limit: int) -> Sequence[RowMapping]:
        """Port groups by switch and name, with their VLAN and the switch's site."""
        stmt = (
            select(
                PortGroup.id,
                PortGroup.name,
                PortGroup.vlan_id,
                Dvs.name.label("dvs_name"),
                Dvs.site_id,
            )
            .join(Dvs, Dvs.id == PortGroup.dvs_id)
            .order_by(Dvs.name, PortGroup.name, PortGroup.id)
        )
        return self.session.execute(stmt.limit(limit)).mappings().all()

    def pool_cidrs(self, port_group_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        """The CIDRs of the IP pools bound to each port group."""
        found: dict[uuid.UUID, list[str]] = defaultdict(list)
        if not port_group_ids:
            return found
        stmt = (
            select(IpPool.port_group_id, IpPool.cidr)
            .where(IpPool.port_group_id.in_(port_group_ids))
            .order_by(IpPool.cidr)
        )
        for port_group_id, cidr in self.session.execute(stmt):
            found[port_group_id].append(cidr)
        return found
