"""A multi-host test bed on one machine: hosts with their own libvirtd and Open vSwitch."""
