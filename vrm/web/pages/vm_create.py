"""The VM create wizard: one page whose steps the browser shows one at a time; the
choices (clusters, hosts, images, templates, datastores, port groups) are rendered into
it, and its script sends the result to ``POST /api/v1/vms`` (or clones a template)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

from vrm.auth.principal import Principal
from vrm.deps import SessionDep
from vrm.errors import Forbidden
from vrm.hosts.states import SCHEDULABLE
from vrm.models.enums import DiskBus, ImageFormat, NicModel, ObjectState
from vrm.vms.schemas import MAX_USER_DATA
from vrm.web.deps import PageUser
from vrm.web.render import page
from vrm.web.vm_create_repository import WizardRepository

router = APIRouter(include_in_schema=False)

MIB = 1024 * 1024
# How many of each kind the page lists; more would make it slow to load and to use
# (a cluster with more choices than this is rare; the page says when a list is cut).
LIMITS = {
    "clusters": 200,
    "hosts": 500,
    "images": 200,
    "templates": 200,
    "datastores": 200,
    "port_groups": 300,
}
# The wizard's steps in order: (key, title). The titles are msgids.
STEPS = (
    ("source", "Source"),
    ("placement", "Placement"),
    ("resources", "vCPU and memory"),
    ("disks", "Disks"),
    ("nics", "NICs"),
    ("cloudinit", "Cloud-init"),
    ("settings", "Name and HA"),
    ("summary", "Summary"),
)


async def page_writer(user: PageUser) -> Principal:
    """A page only users who may change things see (a viewer gets the Forbidden page)."""
    if not user.can("write"):
        raise Forbidden(f"role {user.role!r} may not create VMs", details={"permission": "write"})
    return user


PageWriter = Annotated[Principal, Depends(page_writer)]


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a list, and what the script needs to know about it."""

    id: str
    label: str
    data: dict[str, str]
    disabled: bool = False


@router.get("/vms/new", response_class=HTMLResponse)
def vm_new(request: Request, session: SessionDep, user: PageWriter) -> HTMLResponse:
    """The create wizard, with every choice it offers."""
    choices = read_choices(session)
    return page(
        request,
        "vms/new.html",
        user=user,
        section="vms",
        steps=STEPS,
        choices=choices,
        limited=[kind for kind, items in choices.items() if len(items) >= LIMITS[kind]],
        buses=[bus.value for bus in DiskBus],
        nic_models=[model.value for model in NicModel],
        max_user_data=MAX_USER_DATA,
    )


def read_choices(session: Session) -> dict[str, list[Choice]]:
    """Every list the wizard offers, each cut at its limit."""
    repo = WizardRepository(session)
    return {
        "clusters": [_cluster(row) for row in repo.clusters(LIMITS["clusters"])],
        "hosts": [_host(row) for row in repo.hosts(LIMITS["hosts"])],
        "images": _images(repo),
        "templates": [_template(row) for row in repo.templates(LIMITS["templates"])],
        "datastores": _datastores(repo),
        "port_groups": _port_groups(repo),
    }


def _cluster(row: RowMapping) -> Choice:
    return Choice(str(row["id"]), row["name"], {"site": str(row["site_id"])})


def _host(row: RowMapping) -> Choice:
    usable = row["state"] in SCHEDULABLE
    data = {"cluster": str(row["cluster_id"]), "state": str(row["state"])}
    return Choice(str(row["id"]), row["name"], data, not usable)


def _images(repo: WizardRepository) -> list[Choice]:
    formats = (ImageFormat.ISO, ImageFormat.QCOW2, ImageFormat.RAW)
    return [
        Choice(
            str(row["id"]),
            row["name"],
            {
                "format": str(row["format"]),
                "os": row["os_hint"],
                "datastore": str(row["datastore_id"]),
                "min-mib": str(-(-row["virtual_size_bytes"] // MIB)),
            },
        )
        for row in repo.images(formats, LIMITS["images"])
    ]


def _template(row: RowMapping) -> Choice:
    data = {
        "cluster": str(row["cluster_id"]),
        "vcpus": str(row["vcpus"]),
        "memory": str(row["memory_mib"]),
    }
    return Choice(str(row["id"]), row["name"], data)


def _datastores(repo: WizardRepository) -> list[Choice]:
    rows = repo.datastores(LIMITS["datastores"])
    reach = repo.datastore_clusters([row["id"] for row in rows])
    return [
        Choice(
            str(row["id"]),
            row["name"],
            {"clusters": " ".join(sorted(reach[row["id"]])), "free": str(_free_mib(row))},
            row["state"] != ObjectState.AVAILABLE,
        )
        for row in rows
    ]


def _free_mib(row: RowMapping) -> int:
    return max(int(row["capacity_mib"]) - int(row["allocated_mib"]), 0)


def _port_groups(repo: WizardRepository) -> list[Choice]:
    rows = repo.port_groups(LIMITS["port_groups"])
    cidrs = repo.pool_cidrs([row["id"] for row in rows])
    return [_port_group(row, cidrs.get(row["id"], [])) for row in rows]


def _port_group(row: RowMapping, cidrs: Sequence[str]) -> Choice:
    data = {"site": str(row["site_id"]), "vlan": str(row["vlan_id"]), "cidrs": ", ".join(cidrs)}
    return Choice(str(row["id"]), f"{row['dvs_name']} / {row['name']}", data)
