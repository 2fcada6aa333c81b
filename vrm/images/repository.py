"""SQL for images."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update

from vrm.models import Host, HostDatastore, Image, VmCdrom, Volume
from vrm.models.enums import HostState, ImageState
from vrm.repository import Repository, changed_one


class ImageRepository(Repository[Image]):
    """Images."""

    model = Image
    sortable = ("created_at", "updated_at", "name", "format", "state", "size_bytes")

    def users(self, image_id: uuid.UUID) -> int:
        """How many CD-ROMs hold the image and volumes are linked clones of it."""
        drives = select(func.count()).select_from(VmCdrom).where(VmCdrom.image_id == image_id)
        clones = select(func.count()).select_from(Volume).where(Volume.base_image_id == image_id)
        return int(self.session.scalar(drives) or 0) + int(self.session.scalar(clones) or 0)

    def hosts_reaching(self, datastore_id: uuid.UUID) -> Sequence[tuple[uuid.UUID, str]]:
        """The normal hosts that reach a datastore, with their pool names, by host name."""
        stmt = (
            select(HostDatastore.host_id, HostDatastore.pool_name)
            .join(Host, Host.id == HostDatastore.host_id)
            .where(HostDatastore.datastore_id == datastore_id, Host.state == HostState.NORMAL)
            .order_by(Host.name)
        )
        return [(row[0], row[1]) for row in self.session.execute(stmt)]

    def set_state(
        self, image_id: uuid.UUID, state: ImageState, *, expected: ImageState | None = None
    ) -> bool:
        """Move an image to ``state`` (only from ``expected`` when given); whether it moved."""
        stmt = update(Image).where(Image.id == image_id)
        if expected is not None:
            stmt = stmt.where(Image.state == expected)
        stmt = stmt.values(state=state).execution_options(synchronize_session="fetch")
        return changed_one(self.session.execute(stmt))

    def claim_upload(self, image_id: uuid.UUID, task_id: uuid.UUID) -> bool:
        """Give an image waiting for its data (or whose upload failed) its upload task
        (compare-and-swap: one upload at a time)."""
        waiting = (Image.state == ImageState.UPLOADING) & Image.task_id.is_(None)
        stmt = (
            update(Image)
            .where(Image.id == image_id, waiting | (Image.state == ImageState.FAILED))
            .values(
                task_id=task_id,
                state=ImageState.UPLOADING,
                progress=0,
                error_code=None,
                error_message=None,
            )
            .execution_options(synchronize_session="fetch")
        )
        return changed_one(self.session.execute(stmt))
