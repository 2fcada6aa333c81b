"""Taking an image into a pool's directory from an upload, a URL, a file or a volume.

Bytes go to a hidden ``.<name>.part`` next to where the image will be, never all in
memory: each block is hashed and written by two threads of its own while the next one
arrives. Only a complete, validated image whose checksum matches gets its final name
(``<name>``, the volume's name); any failure, a cut connection or a cancellation
removes the partial file, so a pool never holds a half or a bad image.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

import anyio
import httpx

from cna_agent.errors import AlreadyExists, InvalidSpec, NotFound, StateConflict
from cna_agent.images import partial
from cna_agent.images.partial import (
    BLOCK,
    MIB,
    PartialFile,
    Progress,
    fsync_dir,
    hash_file,
    no_space,
    pump,
    too_large,
)
from cna_agent.images.validate import backing_chain, refuse_info_references, validate
from cna_agent.protocol import OBJECT_NAME
from cna_agent.protocol.images import SHA256, ImageFormat, ImageImport, ImageReport, VolumeRef
from cna_agent.virt.storage import Storage

log = logging.getLogger(__name__)

FETCH_TIMEOUT = httpx.Timeout(30.0)
_NAME = re.compile(OBJECT_NAME)
_SHA256 = re.compile(SHA256)
_PERCENT = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")

# Final paths being written now: a second intake of the same image is refused meanwhile.
_claims: set[str] = set()
_claims_lock = threading.Lock()


@dataclass(frozen=True, kw_only=True)
class ImageRequest:
    """What is to be taken: where, under which name, as what, and the limits."""

    pool: str
    name: str
    format: ImageFormat
    max_bytes: int
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.sha256 is not None:
            if not _SHA256.match(self.sha256):
                raise InvalidSpec("sha256 must be 64 hexadecimal digits", code="invalid_sha256")
            object.__setattr__(self, "sha256", self.sha256.lower())


@dataclass(frozen=True)
class _Target:
    request: ImageRequest
    directory: str

    @property
    def final(self) -> str:
        return os.path.join(self.directory, self.request.name)

    @property
    def partial(self) -> str:
        return os.path.join(self.directory, f".{self.request.name}.part")


class Intake:
    """Takes images into the node's pools."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def take(
        self, request: ImageRequest, source: ImageImport, progress: Progress | None = None
    ) -> ImageReport:
        """Take an image from the one source an import names."""
        if source.url is not None:
            return self.fetch(request, source.url, progress)
        if source.path is not None:
            return self.copy_file(request, source.path, progress)
        assert source.volume is not None  # ImageImport names exactly one source
        return self.convert_volume(request, source.volume, progress)

    async def upload(
        self, request: ImageRequest, chunks: AsyncIterator[bytes], *, size: int | None
    ) -> ImageReport:
        """Take an image from an upload's chunks (``size``: its announced length)."""
        target = await anyio.to_thread.run_sync(self._target, request)
        with _claim(target.final):
            existing = await anyio.to_thread.run_sync(self._prepare, target, size)
            if existing is not None:
                return existing
            part: PartialFile | None = None
            try:
                part = await anyio.to_thread.run_sync(self._open, target, size, None)
                await pump(chunks, part)
                return await anyio.to_thread.run_sync(self._complete, target, part)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(_discard, target, part)
                raise

    def fetch(
        self, request: ImageRequest, url: str, progress: Progress | None = None
    ) -> ImageReport:
        """Take an image from a URL (redirects followed)."""
        target = self._target(request)
        with _claim(target.final), _fetch_errors(url):
            existing = self._prepare(target, None)
            if existing is not None:
                return existing
            with (
                httpx.Client(follow_redirects=True, timeout=FETCH_TIMEOUT) as client,
                client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response,
            ):
                response.raise_for_status()
                length = response.headers.get("content-length")
                size = int(length) if length and length.isdigit() else None
                self._prepare(target, size)
                return self._take(target, response.iter_bytes(BLOCK), size, progress)

    def copy_file(
        self, request: ImageRequest, path: str, progress: Progress | None = None
    ) -> ImageReport:
        """Take an image from a file already in one of the node's pools."""
        target = self._target(request)
        source = self._inside_a_pool(path)
        with (
            open(os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as file,
            _claim(target.final),
        ):
            size = os.fstat(file.fileno()).st_size
            existing = self._prepare(target, size)
            if existing is not None:
                return existing
            blocks = iter(lambda: file.read(BLOCK), b"")
            return self._take(target, blocks, size, progress)

    def convert_volume(
        self, request: ImageRequest, ref: VolumeRef, progress: Progress | None = None
    ) -> ImageReport:
        """Take an image as a full copy of a volume, converted and its chain flattened."""
        target = self._target(request)
        volume = self.storage.volume(ref.pool, ref.volume)
        source_format = _source_format(volume.format)
        self._refuse_foreign_chain(volume.path, source_format)
        # A raw copy is as large as the disk (sparse: it takes about what the volume takes).
        size = volume.capacity_mib * MIB if request.format is not ImageFormat.QCOW2 else None
        with _claim(target.final):
            existing = self._prepare(target, size, space=volume.allocation_mib * MIB)
            if existing is not None:
                return existing
            try:
                _convert(volume.path, source_format, request.format, target.partial, progress)
                os.chmod(target.partial, 0o644)
                if os.stat(target.partial).st_size > request.max_bytes:
                    raise too_large(request.max_bytes)
                return self._settle(target, hash_file(target.partial, fsync=True))
            except BaseException:
                _discard(target, None)
                raise

    # steps

    def _target(self, request: ImageRequest) -> _Target:
        if not _NAME.match(request.name):
            raise InvalidSpec(f"{request.name!r} is not a valid image name", code="invalid_name")
        pool = self.storage.pool(request.pool)
        if not pool.active:
            raise StateConflict(f"pool {pool.name} is not active", code="pool_inactive")
        return _Target(request, pool.path)

    def _prepare(
        self, target: _Target, size: int | None, *, space: int | None = None
    ) -> ImageReport | None:
        """The image when it is already there; else refuse what is known not to fit
        (``size`` against the limit, ``space``, by default ``size``, against the disk)."""
        existing = self._existing(target)
        if existing is not None:
            return existing
        if size is not None and size > target.request.max_bytes:
            raise too_large(target.request.max_bytes)
        needed = size if space is None else space
        if needed is not None:
            available = partial.free_bytes(target.directory)
            if needed > available:
                raise no_space(needed, available)
        return None

    def _existing(self, target: _Target) -> ImageReport | None:
        if not os.path.lexists(target.final):
            return None
        wanted = target.request.sha256
        if wanted and os.path.isfile(target.final) and not os.path.islink(target.final):
            digest = hash_file(target.final)
            if digest == wanted:
                self.storage.refresh(target.request.pool)
                return _report(target, digest, validate(target.final, target.request.format))
        raise AlreadyExists(
            f"pool {target.request.pool} already has a volume {target.request.name}",
            code="image_exists",
            details={"pool": target.request.pool, "name": target.request.name},
        )

    def _open(self, target: _Target, size: int | None, progress: Progress | None) -> PartialFile:
        return PartialFile(
            target.partial, max_bytes=target.request.max_bytes, size=size, progress=progress
        )

    def _take(
        self, target: _Target, blocks: Iterable[bytes], size: int | None, progress: Progress | None
    ) -> ImageReport:
        part = self._open(target, size, progress)
        try:
            for block in blocks:
                part.feed(block)
            return self._complete(target, part)
        except BaseException:
            _discard(target, part)
            raise

    def _complete(self, target: _Target, part: PartialFile) -> ImageReport:
        return self._settle(target, part.finish())

    def _settle(self, target: _Target, digest: str) -> ImageReport:
        """Check and validate the partial file, then give it its final name."""
        wanted = target.request.sha256
        if wanted and digest != wanted:
            raise InvalidSpec(
                "the image's SHA-256 differs from the expected one",
                code="image_checksum_mismatch",
                details={"expected": wanted, "actual": digest},
            )
        virtual_size = validate(target.partial, target.request.format)
        try:
            os.link(target.partial, target.final)  # never replaces what appeared meanwhile
        except FileExistsError as exc:
            raise AlreadyExists(
                f"pool {target.request.pool} already has a volume {target.request.name}",
                code="image_exists",
            ) from exc
        os.unlink(target.partial)
        fsync_dir(target.directory)
        log.info("took image %s/%s (%s)", target.request.pool, target.request.name, digest)
        self.storage.refresh(target.request.pool)
        return _report(target, digest, virtual_size)

    def _inside_a_pool(self, path: str) -> str:
        real = os.path.realpath(path)
        for pool in self.storage.pools():
            directory = os.path.realpath(pool.path)
            if real != directory and os.path.commonpath([real, directory]) == directory:
                if not os.path.isfile(real):
                    raise NotFound(f"{path} is not a file", code="image_source_not_found")
                return real
        raise InvalidSpec(
            f"{path} is not inside a datastore of this node",
            code="image_path_outside_datastore",
            details={"path": path},
        )

    def _refuse_foreign_chain(self, path: str, fmt: str) -> None:
        """Every file of a qcow2 volume's chain must be in the node's pools: a guest may
        have written a qcow2 header naming any file into a raw disk that libvirt probed."""
        if fmt != "qcow2":
            return
        chain = backing_chain(path, fmt)
        for info in chain[1:]:
            self._inside_a_pool(str(info["filename"]))
        for info in chain:
            data = (info.get("format-specific") or {}).get("data") or {}
            if data.get("data-file"):
                refuse_info_references(info)


@contextlib.contextmanager
def _claim(final: str) -> Iterator[None]:
    with _claims_lock:
        if final in _claims:
            raise StateConflict(
                f"{os.path.basename(final)} is being taken in already", code="image_busy"
            )
        _claims.add(final)
    try:
        yield
    finally:
        with _claims_lock:
            _claims.discard(final)


@contextlib.contextmanager
def _fetch_errors(url: str) -> Iterator[None]:
    try:
        yield
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        raise _fetch_failed(url, f"the server answered {status}", status) from exc
    except httpx.HTTPError as exc:
        raise _fetch_failed(url, str(exc) or type(exc).__name__, None) from exc


def _convert(
    source: str, source_format: str, fmt: ImageFormat, out: str, progress: Progress | None
) -> None:
    """``qemu-img convert`` a volume into ``out``, reporting qemu-img's progress."""
    out_format = "qcow2" if fmt is ImageFormat.QCOW2 else "raw"
    command = ["qemu-img", "convert", "-p", "-f", source_format, "-O", out_format, source, out]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    ) as proc:
        stdout, stderr = proc.stdout, proc.stderr
        assert stdout is not None
        assert stderr is not None
        # qemu-img -p rewrites one line, "    (12.34/100%)\r", as it goes.
        for output in iter(lambda: os.read(stdout.fileno(), 4096), b""):
            done = _PERCENT.findall(output)
            if done and progress is not None:
                progress(min(99, int(float(done[-1]))))
        error = stderr.read().decode(errors="replace").strip()
    if proc.returncode != 0:
        if "No space left" in error:
            raise no_space(None, None)
        raise InvalidSpec(f"qemu-img convert failed: {error}", code="image_convert_failed")


def _discard(target: _Target, part: PartialFile | None) -> None:
    """Remove an intake's partial file (ours: the image's claim is held)."""
    if part is not None:
        part.discard()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target.partial)


def _source_format(fmt: str) -> str:
    if fmt in ("qcow2", "raw"):
        return fmt
    if fmt == "iso":
        return "raw"
    raise InvalidSpec(f"a {fmt or 'unknown'} volume cannot be copied", code="image_source_format")


def _report(target: _Target, digest: str, virtual_size: int) -> ImageReport:
    return ImageReport(
        name=target.request.name,
        pool=target.request.pool,
        path=target.final,
        format=target.request.format,
        size_bytes=os.stat(target.final).st_size,
        virtual_size_bytes=virtual_size,
        sha256=digest,
    )


def _fetch_failed(url: str, reason: str, status: int | None) -> InvalidSpec:
    return InvalidSpec(
        f"fetching {url} failed: {reason}",
        code="image_fetch_failed",
        details={"url": url, "status": status},
    )
