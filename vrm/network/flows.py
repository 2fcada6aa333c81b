"""The ``host.sync_networks`` flow: make one host's networks match VRM's DVSs."""

from __future__ import annotations

from sqlalchemy import select

from vrm.models import Cluster, Dvs, Host
from vrm.network.push import SYNC
from vrm.tasks.flow import Flow
from vrm.vms.spec import network_spec


class SyncNetworksFlow(Flow):
    """Ensure every DVS of the host's site (bridge, libvirt network, port groups with their
    VLANs, running ports retagged), then remove the bridges of deleted DVSs."""

    type = SYNC
    steps = ("apply",)

    def apply(self) -> None:
        session = self.ctx.session
        host = session.get(Host, self.ctx.task.target_id)
        if host is None:  # removed meanwhile: nothing to do
            return
        cluster = session.get(Cluster, host.cluster_id)
        assert cluster is not None
        switches = session.scalars(
            select(Dvs).where(Dvs.site_id == cluster.site_id).order_by(Dvs.name)
        ).all()
        specs = [network_spec(session, dvs) for dvs in switches]
        agent = self.ctx.agent(host.id)
        for spec in specs:
            agent.ensure_network(spec)
        kept = {spec.name for spec in specs}
        for bridge in self.ctx.params.get("remove", []):
            if bridge not in kept:
                agent.delete_network(bridge)
