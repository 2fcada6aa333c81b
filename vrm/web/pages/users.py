"""The users page (admins only): list, create, change role, enable, reset password, delete.

Every change goes through ``/api/v1/users`` from the page's script; the API keeps its
rules (the last enabled admin stays, nobody deletes themself) and the page shows its
refusals.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vrm.auth.repository import RoleRepository
from vrm.deps import SessionDep
from vrm.listing import ListParams
from vrm.users import service
from vrm.web.deps import PageAdmin
from vrm.web.render import page
from vrm.web.tables import TableSpec

router = APIRouter(include_in_schema=False)

ENABLED = {"yes": True, "no": False}
# Roles are few (built-in: admin, operator, viewer); one page holds them all.
_ALL_ROLES = ListParams(limit=100, sort=("name",))


@router.get("/users", response_class=HTMLResponse)
def user_list(request: Request, session: SessionDep, user: PageAdmin) -> HTMLResponse:
    """Users in a table with their role, state and last login; forms to manage them."""
    roles, _ = RoleRepository(session).page(_ALL_ROLES)
    spec = TableSpec(
        sortable=("name", "enabled", "last_login_at", "created_at"),
        default_sort="name",
        filters={"role": frozenset(role.name for role in roles), "enabled": frozenset(ENABLED)},
    )
    table = spec.read(request)
    filters = table.where(enabled=ENABLED.get(table.filters.get("enabled", "")))
    role = filters.pop("role", None)
    users, total = service.list_users(session, params=table.params, filters=filters, role=role)
    return page(
        request,
        "users/list.html",
        user=user,
        section="users",
        table=table,
        users=users,
        total=total,
        roles=roles,
    )
