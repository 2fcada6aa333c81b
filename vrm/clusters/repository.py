"""SQL for clusters."""

from __future__ import annotations

from vrm.models import Cluster
from vrm.repository import Repository


class ClusterRepository(Repository[Cluster]):
    """Clusters."""

    model = Cluster
    sortable = ("created_at", "updated_at", "name", "drs_mode")
