"""The libvirt wall: the only package of OpenVRM that imports ``libvirt``."""
