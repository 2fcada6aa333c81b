"""Moving VMs between hosts: live, cold, and (with copy-storage) their disks too."""
