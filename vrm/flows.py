"""Every flow VRM runs, listed explicitly: the task engine's registry.

``create_app`` builds it once (a test or a simulator may pass its own); nothing
registers itself by being imported.
"""

from __future__ import annotations

from vrm.hosts.evacuation import EvacuateFlow
from vrm.images import flows as images
from vrm.migration.flow import MigrateFlow
from vrm.migration.storage_flow import MoveStorageFlow
from vrm.network.flows import SyncNetworksFlow
from vrm.storage.mounts import MountDatastoreFlow
from vrm.tasks.flow import FlowRegistry
from vrm.vms.flows import FLOWS as VM_FLOWS


def all_flows() -> FlowRegistry:
    """The flows of every task type."""
    return FlowRegistry(
        [
            *VM_FLOWS,
            images.ImportFlow,
            images.UploadFlow,
            images.DeleteFlow,
            SyncNetworksFlow,
            MigrateFlow,
            MoveStorageFlow,
            MountDatastoreFlow,
            EvacuateFlow,
        ]
    )
