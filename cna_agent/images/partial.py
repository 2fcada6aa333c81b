"""The hidden file an image is written into: hashed and written in two threads.

Each block of 4 MiB is hashed by one thread and written by another while the next
block arrives, at most ``IN_FLIGHT`` blocks ahead of the disk, so an image never sits
in memory and a fast network is not slowed down by one core doing everything.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor

import anyio

from cna_agent.errors import Interrupted, InvalidSpec, StateConflict

Progress = Callable[[int], None]

MIB = 1024 * 1024
# Bytes are written in blocks of this size, at most IN_FLIGHT blocks ahead of the disk.
BLOCK = 4 * MIB
IN_FLIGHT = 2
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def free_bytes(directory: str) -> int:
    """What an unprivileged writer may still put in the file system of ``directory``."""
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


class PartialFile:
    """The hidden file an image is written into, hashed on the way."""

    def __init__(self, path: str, *, max_bytes: int, size: int | None, progress: Progress | None):
        self.path = path
        self.received = 0
        self._max_bytes = max_bytes
        self._size = size
        self._progress = progress
        self._written = 0
        self._offset = 0  # the writer thread's
        self._hash = hashlib.sha256()
        self._pending: deque[tuple[Future[None], Future[int]]] = deque()
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="cna-image-hash")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="cna-image-write")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        self._fd = os.open(path, flags, 0o644)
        os.fchmod(self._fd, 0o644)  # whatever the umask: QEMU runs as another user

    def count(self, size: int) -> None:
        """Account for ``size`` more bytes; refuse at once past the limit or the length."""
        self.received += size
        if self.received > self._max_bytes:
            raise too_large(self._max_bytes)
        if self._size is not None and self.received > self._size:
            raise InvalidSpec(
                f"more bytes than the announced {self._size}", code="upload_length_mismatch"
            )

    def submit(self, block: bytes) -> None:
        """Hand a counted block to the hashing and writing threads."""
        hashed = self._hasher.submit(self._hash.update, block)
        self._pending.append((hashed, self._writer.submit(self._write, block)))

    def feed(self, block: bytes) -> None:
        """Count, then submit a block once the threads are less than IN_FLIGHT behind."""
        self.count(len(block))
        self.wait(IN_FLIGHT - 1)
        self.submit(block)

    def busy(self) -> bool:
        """Whether a submit now would run more than IN_FLIGHT blocks ahead of the disk."""
        while self._pending and all(f.done() for f in self._pending[0]):
            self._settle_oldest()
        return len(self._pending) >= IN_FLIGHT

    def wait(self, keep: int) -> None:
        """Block until at most ``keep`` blocks are not yet hashed and written."""
        while len(self._pending) > keep:
            self._settle_oldest()

    def finish(self) -> str:
        """Write everything to stable storage; the SHA-256 of the content."""
        if self._size is not None and self.received < self._size:
            raise Interrupted(
                f"the data ended after {self.received} of {self._size} bytes",
                details={"received": self.received, "expected": self._size},
            )
        self.wait(0)
        os.fsync(self._fd)
        self._close()
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Stop the threads and remove the file (whatever state it is in)."""
        for futures in self._pending:
            for future in futures:
                future.cancel()
        self._close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _settle_oldest(self) -> None:
        hashed, written = self._pending.popleft()
        hashed.result()
        self._written += written.result()
        if self._progress is not None and self._size:
            self._progress(min(99, self._written * 100 // self._size))

    def _write(self, block: bytes) -> int:
        view = memoryview(block)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            if exc.errno in _NO_SPACE:
                raise no_space(None, None) from exc
            raise
        # Start writing the block back now rather than leaving a whole image dirty in the
        # page cache: the final fsync then has little left to do, and the VMs' own writes
        # are not held up behind ours.
        os.posix_fadvise(self._fd, self._offset, len(block), os.POSIX_FADV_DONTNEED)
        self._offset += len(block)
        return len(block)

    def _close(self) -> None:
        self._hasher.shutdown(wait=True, cancel_futures=True)
        self._writer.shutdown(wait=True, cancel_futures=True)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


async def pump(chunks: AsyncIterator[bytes], part: PartialFile) -> None:
    """Gather chunks into blocks for the threads; count each chunk as it arrives."""
    gathered: list[bytes] = []
    size = 0
    async for chunk in chunks:
        part.count(len(chunk))
        gathered.append(chunk)
        size += len(chunk)
        if size >= BLOCK:
            await _submit(part, b"".join(gathered))
            gathered, size = [], 0
    if gathered:
        await _submit(part, b"".join(gathered))


async def _submit(part: PartialFile, block: bytes) -> None:
    if part.busy():
        await anyio.to_thread.run_sync(part.wait, IN_FLIGHT - 1)
    part.submit(block)


def hash_file(path: str, *, fsync: bool = False) -> str:
    """The SHA-256 of a file (synced to stable storage first when asked)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(BLOCK):
            digest.update(block)
        if fsync:
            os.fsync(file.fileno())
    return digest.hexdigest()


def fsync_dir(directory: str) -> None:
    """Make a rename or link in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def too_large(max_bytes: int) -> InvalidSpec:
    """The refusal of an image over its limit."""
    return InvalidSpec(
        f"the image is larger than {max_bytes} bytes",
        code="image_too_large",
        details={"max_bytes": max_bytes},
    )


def no_space(needed: int | None, available: int | None) -> StateConflict:
    """The refusal of an image the datastore cannot hold (sizes unknown: the disk filled)."""
    known = needed is not None
    return StateConflict(
        "not enough free space in the datastore for the image"
        + ("" if known else " (the disk filled up)"),
        code="insufficient_space",
        details={"needed_bytes": needed, "available_bytes": available} if known else {},
    )
