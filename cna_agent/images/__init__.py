"""Images on the node: install media (ISO) and disk images (qcow2, raw) taken into a pool.

``validate`` tells what a file really is (``qemu-img info`` under resource limits, after
our own look at the headers) and refuses what a VM must never be given; ``intake``
writes an image into a pool's directory from an upload, a URL, a file or a volume,
leaving nothing behind when anything goes wrong.
"""
