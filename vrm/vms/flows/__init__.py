"""The VM flows; importing this package registers them with the task engine."""

from vrm.vms.flows import clone, create, delete, devices, media, power, resize, snapshot

__all__ = ["clone", "create", "delete", "devices", "media", "power", "resize", "snapshot"]
