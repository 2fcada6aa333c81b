"""WebUI pages: a VM's consoles in the page, VNC (noVNC) and serial (xterm.js).

The page only shows where the console goes; its script asks ``/api/v1`` for a ticket
and opens the websocket, so the API decides who may watch and when.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cna_agent.protocol.consoles import ConsoleType
from vrm.consoles.service import CONSOLE_STATES
from vrm.deps import SessionDep
from vrm.vms import views
from vrm.vms.schemas import VmRead
from vrm.web.deps import PageUser
from vrm.web.render import page

router = APIRouter(include_in_schema=False)

KINDS = {kind.value: kind for kind in ConsoleType}
TEMPLATES = {ConsoleType.VNC: "consoles/vnc.html", ConsoleType.SERIAL: "consoles/serial.html"}
# The relay passes keys on for anyone holding a ticket, and every role that may read
# VMs gets one (viewers included): the page offers typing to the same users.
TYPING_PERMISSION = "read"


@router.get("/vms/{vm_id}/console", response_class=HTMLResponse)
def vm_console(
    request: Request,
    session: SessionDep,
    user: PageUser,
    vm_id: uuid.UUID,
    kind: Annotated[str, Query(alias="type")] = ConsoleType.VNC.value,
) -> HTMLResponse:
    """The VNC or serial console of a VM (an unknown ``type`` is the VNC console)."""
    console = KINDS.get(kind, ConsoleType.VNC)
    vm = views.vm_view(session, vm_id=vm_id)
    return page(
        request,
        TEMPLATES[console],
        user=user,
        section="vms",
        vm=vm,
        kind=console.value,
        other=(ConsoleType.SERIAL if console is ConsoleType.VNC else ConsoleType.VNC).value,
        has_console=has_console(vm),
        can_type=user.can(TYPING_PERMISSION),
    )


def has_console(vm: VmRead) -> bool:
    """Whether the API would give a ticket for this VM now (as ``consoles.service`` checks)."""
    return not vm.is_template and vm.state in CONSOLE_STATES and vm.host_id is not None
