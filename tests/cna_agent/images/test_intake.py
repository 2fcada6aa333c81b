"""Taking images into a real pool directory: each failure leaves nothing behind."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from cna_agent.errors import AgentError
from cna_agent.images.intake import ImageRequest, Intake
from cna_agent.protocol.images import ImageFormat, ImageReport
from tests.cna_agent.images.helpers import (
    MIB,
    http_server,
    leftovers,
    make_iso,
    qemu_img_create,
    sha256_of,
)

CHUNK = 64 * 1024


class Source:
    """An upload's chunks; counts what was read and can fail or hang part-way."""

    def __init__(self, data: bytes, *, fail_at: int | None = None, hang_at: int | None = None):
        self.data = data
        self.fail_at = fail_at
        self.hang_at = hang_at
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for offset in range(0, len(self.data), CHUNK):
            if offset == self.fail_at:
                raise ConnectionResetError("the client went away")
            if offset == self.hang_at:
                await anyio.sleep_forever()
            self.read += 1
            yield self.data[offset : offset + CHUNK]


def request(pool: str, name: str = "image", **fields: Any) -> ImageRequest:
    values: dict[str, Any] = {"format": ImageFormat.RAW, "max_bytes": 64 * MIB, **fields}
    return ImageRequest(pool=pool, name=name, **values)


def upload(
    intake: Intake, image: ImageRequest, source: Source, size: int | None = None
) -> ImageReport:
    async def run() -> ImageReport:
        return await intake.upload(image, aiter(source), size=size)

    return anyio.run(run)


def refused(call: Callable[[], object], code: str) -> AgentError:
    with pytest.raises(AgentError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    return caught.value


def raw_image(size: int = 3 * MIB) -> bytes:
    return bytes(range(256)) * (size // 256)


# --- uploads ------------------------------------------------------------------------


def test_an_upload_becomes_a_validated_image(
    intake: Intake, pool: str, pool_dir: Path, tmp_path: Path
) -> None:
    data = qemu_img_create(tmp_path / "disk.qcow2", "qcow2", "64M").read_bytes()
    image = request(pool, "disk", format=ImageFormat.QCOW2, sha256=sha256_of(data).upper())
    report = upload(intake, image, Source(data), size=len(data))
    assert report == ImageReport(
        name="disk",
        pool=pool,
        path=str(pool_dir / "disk"),
        format=ImageFormat.QCOW2,
        size_bytes=len(data),
        virtual_size_bytes=64 * MIB,
        sha256=sha256_of(data),
    )
    assert (pool_dir / "disk").read_bytes() == data
    assert stat.S_IMODE((pool_dir / "disk").stat().st_mode) == 0o644
    assert leftovers(pool_dir) == ["disk"]


def test_an_iso_upload_of_unknown_length(intake: Intake, pool: str, pool_dir: Path) -> None:
    iso = make_iso(pool_dir.parent / "media.iso").read_bytes()
    report = upload(intake, request(pool, "media", format=ImageFormat.ISO), Source(iso))
    assert (report.size_bytes, report.virtual_size_bytes) == (len(iso), len(iso))
    assert report.sha256 == sha256_of(iso)
    assert leftovers(pool_dir) == ["media"]


def test_the_same_image_again_is_the_same_answer(intake: Intake, pool: str) -> None:
    data = raw_image()
    image = request(pool, sha256=sha256_of(data))
    first = upload(intake, image, Source(data))
    again = Source(data)
    assert upload(intake, image, again) == first
    assert again.read == 0, "an image already there is not read again"


def test_another_image_under_a_taken_name_is_refused(
    intake: Intake, pool: str, pool_dir: Path
) -> None:
    data = raw_image()
    upload(intake, request(pool), Source(data))
    error = refused(lambda: upload(intake, request(pool), Source(data)), "image_exists")
    assert error.status == 409
    other = raw_image(MIB)
    image = request(pool, sha256=sha256_of(other))
    refused(lambda: upload(intake, image, Source(other)), "image_exists")
    assert (pool_dir / "image").read_bytes() == data
    assert leftovers(pool_dir) == ["image"]


def test_too_large_stops_reading_at_once(intake: Intake, pool: str, pool_dir: Path) -> None:
    source = Source(raw_image(8 * MIB))
    image = request(pool, max_bytes=MIB + 1)
    error = refused(lambda: upload(intake, image, source), "image_too_large")
    assert error.status == 422
    assert source.read == MIB // CHUNK + 1
    announced = Source(raw_image(8 * MIB))
    refused(lambda: upload(intake, image, announced, size=8 * MIB), "image_too_large")
    assert announced.read == 0
    assert leftovers(pool_dir) == []


def test_a_wrong_checksum_leaves_nothing(intake: Intake, pool: str, pool_dir: Path) -> None:
    image = request(pool, sha256="0" * 64)
    error = refused(lambda: upload(intake, image, Source(raw_image())), "image_checksum_mismatch")
    assert error.details["actual"] == sha256_of(raw_image())
    assert leftovers(pool_dir) == []


def test_a_bad_image_never_gets_its_name(
    intake: Intake, pool: str, pool_dir: Path, tmp_path: Path
) -> None:
    qcow2 = qemu_img_create(tmp_path / "disk.qcow2", "qcow2").read_bytes()
    refused(lambda: upload(intake, request(pool), Source(qcow2)), "image_format_mismatch")
    secret = tmp_path / "secret"
    secret.write_bytes(b"x")
    backed = qemu_img_create(tmp_path / "top", "qcow2", "4M", "-b", str(secret), "-F", "raw")
    image = request(pool, format=ImageFormat.QCOW2)
    refused(lambda: upload(intake, image, Source(backed.read_bytes())), "image_backing_file")
    assert leftovers(pool_dir) == []


def test_no_space_is_refused_before_writing(intake: Intake, tiny_pool: tuple[str, Path]) -> None:
    pool, directory = tiny_pool
    source = Source(raw_image(3 * MIB))
    error = refused(
        lambda: upload(intake, request(pool), source, size=3 * MIB), "insufficient_space"
    )
    assert (error.status, source.read) == (409, 0)
    assert error.details["needed_bytes"] == 3 * MIB
    assert leftovers(directory) == []


def test_a_disk_that_fills_up_stops_the_upload(intake: Intake, tiny_pool: tuple[str, Path]) -> None:
    pool, directory = tiny_pool
    source = Source(raw_image(16 * MIB))
    refused(lambda: upload(intake, request(pool), source), "insufficient_space")
    assert source.read < 16 * MIB // CHUNK
    assert leftovers(directory) == []


def test_a_source_failing_midway_leaves_nothing(intake: Intake, pool: str, pool_dir: Path) -> None:
    source = Source(raw_image(12 * MIB), fail_at=9 * MIB)
    with pytest.raises(ConnectionResetError):
        upload(intake, request(pool), source)
    assert leftovers(pool_dir) == []


def test_fewer_bytes_than_announced_is_an_interruption(
    intake: Intake, pool: str, pool_dir: Path
) -> None:
    source = Source(raw_image(2 * MIB))
    error = refused(
        lambda: upload(intake, request(pool), source, size=3 * MIB), "upload_interrupted"
    )
    assert (error.status, error.retryable) == (400, True)
    assert leftovers(pool_dir) == []


def test_a_cancelled_upload_leaves_nothing(intake: Intake, pool: str, pool_dir: Path) -> None:
    seen: list[str] = []

    async def run() -> None:
        with anyio.move_on_after(0.5):
            source = Source(raw_image(12 * MIB), hang_at=6 * MIB)
            await intake.upload(request(pool), aiter(source), size=None)
        seen.extend(leftovers(pool_dir))

    anyio.run(run)
    assert seen == []


def test_one_image_is_taken_once_at_a_time(intake: Intake, pool: str, pool_dir: Path) -> None:
    async def run() -> AgentError:
        async with anyio.create_task_group() as group:
            first = Source(raw_image(), hang_at=MIB)
            group.start_soon(_upload, intake, request(pool), first)
            await anyio.sleep(0.2)
            with pytest.raises(AgentError) as caught:
                await intake.upload(request(pool), aiter(Source(raw_image())), size=None)
            group.cancel_scope.cancel()
        return caught.value

    assert anyio.run(run).code == "image_busy"
    assert leftovers(pool_dir) == []
    upload(intake, request(pool), Source(raw_image()))  # the claim went with the first


async def _upload(intake: Intake, image: ImageRequest, source: Source) -> None:
    await intake.upload(image, aiter(source), size=None)


# --- URLs -----------------------------------------------------------------------------


def test_an_image_fetched_from_a_url(intake: Intake, pool: str, pool_dir: Path) -> None:
    data = raw_image(13 * MIB)
    progress: list[int] = []
    with http_server({"/image": data}) as base:
        image = request(pool, "fetched", sha256=sha256_of(data))
        report = intake.fetch(image, f"{base}/image", progress.append)
        assert report.sha256 == sha256_of(data)
        redirected = intake.fetch(request(pool, "redirected"), f"{base}/redirect")
        unsized = intake.fetch(request(pool, "unsized"), f"{base}/unsized")
    assert redirected.sha256 == unsized.sha256 == report.sha256
    assert progress == sorted(progress)
    assert progress[0] > 0
    assert progress[-1] == 99
    assert leftovers(pool_dir) == ["fetched", "redirected", "unsized"]


def test_urls_that_fail(intake: Intake, pool: str, pool_dir: Path) -> None:
    with http_server({}) as base:
        missing = refused(lambda: intake.fetch(request(pool), f"{base}/nope"), "image_fetch_failed")
        assert (missing.status, missing.details["status"]) == (422, 404)
        refused(lambda: intake.fetch(request(pool), f"{base}/huge"), "image_too_large")
        short = refused(lambda: intake.fetch(request(pool), f"{base}/short"), "image_fetch_failed")
        assert short.details["status"] is None
    gone = refused(lambda: intake.fetch(request(pool), base), "image_fetch_failed")
    assert gone.details == {"url": base, "status": None}
    assert leftovers(pool_dir) == []


def test_a_url_too_large_for_the_disk(intake: Intake, tiny_pool: tuple[str, Path]) -> None:
    pool, directory = tiny_pool
    with http_server({"/image": raw_image(3 * MIB)}) as base:
        refused(lambda: intake.fetch(request(pool), f"{base}/image"), "insufficient_space")
    assert leftovers(directory) == []


# --- paths ----------------------------------------------------------------------------


def test_a_file_of_a_pool_is_copied(intake: Intake, pool: str, pool_dir: Path) -> None:
    (pool_dir / "incoming").mkdir()
    iso = make_iso(pool_dir / "incoming" / "upload.iso")
    image = request(pool, "media", format=ImageFormat.ISO)
    report = intake.copy_file(image, str(iso))
    assert report.sha256 == sha256_of(iso)
    assert (pool_dir / "media").read_bytes() == iso.read_bytes()


def test_paths_outside_the_pools_are_refused(
    intake: Intake, pool: str, pool_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.raw"
    outside.write_bytes(raw_image(MIB))
    (pool_dir / "link").symlink_to(outside)
    for path in (outside, pool_dir / "link", pool_dir / ".." / "outside.raw", pool_dir):
        with pytest.raises(AgentError) as caught:
            intake.copy_file(request(pool), str(path))
        assert (caught.value.code, caught.value.status) == ("image_path_outside_datastore", 422)
    refused(
        lambda: intake.copy_file(request(pool), str(pool_dir / "nope")), "image_source_not_found"
    )
    assert leftovers(pool_dir) == ["link"]
