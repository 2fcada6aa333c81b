"""The VM flows; importing this package registers them with the task engine."""

from vrm.vms.flows import create, delete, power, resize, snapshot

__all__ = ["create", "delete", "power", "resize", "snapshot"]
