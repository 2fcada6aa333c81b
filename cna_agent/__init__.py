"""OpenVRM CNA agent: runs on each compute node and drives it through libvirt."""

__version__ = "0.1.0"
