"""Console rules: who gets a ticket for which VM, and what a spent ticket opens.

A ticket is the credential of a console websocket (browsers cannot set headers on
one): 32 random bytes, valid once, for ``TICKET_TTL_S`` seconds, for one user and
one VM. Only its SHA-256 is stored, so a database reader cannot watch consoles.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

from cna_agent.protocol.consoles import ConsoleType
from vrm.agents.credentials import vrm_credential
from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.auth.security import hash_token
from vrm.consoles.repository import ConsoleTicketRepository
from vrm.errors import Conflict, Forbidden, NotFound, Unauthorized
from vrm.models import ConsoleTicket
from vrm.models.base import utcnow
from vrm.models.enums import VmState

TICKET_TTL_S = 30
# A VM has a console only while its domain exists on a node and runs (or is paused).
CONSOLE_STATES = frozenset({VmState.RUNNING, VmState.PAUSED})
# Spent and expired tickets are kept this long (to tell "used" from "unknown" in a
# debugger), then deleted when the next ticket is issued; the audit trail stays.
KEEP_EXPIRED = timedelta(minutes=10)
KIND = "vm"


@dataclass(frozen=True, slots=True)
class IssuedTicket:
    """A new ticket as shown to its user, once."""

    token: str
    vm_id: uuid.UUID
    type: ConsoleType
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SpentTicket:
    """What a ticket was issued for, now that it has been used."""

    user_id: uuid.UUID
    vm_id: uuid.UUID
    type: ConsoleType


@dataclass(frozen=True, slots=True)
class ConsoleTarget:
    """Where a console lives now: the VM's current host's agent, and how to ask it."""

    vm_id: uuid.UUID
    vm_uuid: uuid.UUID
    vm_name: str
    user_id: uuid.UUID
    host_id: uuid.UUID
    agent_url: str
    type: ConsoleType
    exclusive: bool
    credential: str = field(repr=False)


def issue_ticket(
    session: Session, *, actor: Principal, vm_id: uuid.UUID, type: ConsoleType
) -> IssuedTicket:
    """A one-time ticket to ``type`` console of a running or paused VM (404, 409)."""
    repo = ConsoleTicketRepository(session)
    vm = _watchable(repo, vm_id)
    now = utcnow()
    repo.purge(expired_before=now - KEEP_EXPIRED)
    token = secrets.token_urlsafe(32)
    row = ConsoleTicket(
        token_hash=hash_token(token),
        user_id=actor.user_id,
        vm_id=vm_id,
        type=type.value,
        expires_at=now + timedelta(seconds=TICKET_TTL_S),
    )
    repo.add(row, conflict="console ticket collision, try again")
    details = {"type": type.value, "ticket_id": str(row.id), "host_id": str(vm["host_id"])}
    record(
        session,
        actor=actor,
        action="vm.console",
        target_type=KIND,
        target_id=vm_id,
        details=details,
    )
    return IssuedTicket(token=token, vm_id=vm_id, type=type, expires_at=row.expires_at)


def spend_ticket(session: Session, *, token: str) -> SpentTicket:
    """Use a ticket up (whatever follows); 401 when it is unknown, used or expired."""
    found = ConsoleTicketRepository(session).spend(hash_token(token), utcnow())
    if found is None:
        raise Unauthorized(
            "the console ticket is unknown, used or expired; ask for a new one",
            code="console_ticket_invalid",
        )
    user_id, vm_id, kind = found
    return SpentTicket(user_id=user_id, vm_id=vm_id, type=ConsoleType(kind))


def console_target(
    session: Session, *, ticket: SpentTicket, vm_id: uuid.UUID, secret_key: str
) -> ConsoleTarget:
    """Where the console of ``vm_id`` is now, for the holder of ``ticket`` (403, 404, 409)."""
    repo = ConsoleTicketRepository(session)
    if ticket.vm_id != vm_id:
        raise Forbidden("this console ticket is for another VM", code="console_ticket_forbidden")
    if "read" not in (repo.permissions_of(ticket.user_id) or []):
        raise Forbidden(
            "the user of this console ticket is disabled or may no longer read VMs",
            code="console_ticket_forbidden",
        )
    vm = _watchable(repo, vm_id)
    host_id: uuid.UUID = vm["host_id"]
    return ConsoleTarget(
        vm_id=vm_id,
        vm_uuid=vm["uuid"],
        vm_name=vm["name"],
        user_id=ticket.user_id,
        host_id=host_id,
        agent_url=vm["agent_url"],
        type=ticket.type,
        exclusive=vm["console_exclusive"],
        credential=vrm_credential(secret_key, host_id),
    )


def _watchable(repo: ConsoleTicketRepository, vm_id: uuid.UUID) -> RowMapping:
    """The VM and its host, if it has a console now; else 404 or 409."""
    vm = repo.target(vm_id)
    if vm is None:
        raise NotFound.of(KIND, vm_id)
    if vm["is_template"]:
        raise Conflict(f"{vm['name']} is a template: it has no console", code="vm_is_template")
    if vm["state"] not in CONSOLE_STATES or vm["agent_url"] is None:
        allowed = sorted(s.value for s in CONSOLE_STATES)
        raise Conflict(
            f"VM {vm['name']} has no console while it is {vm['state'].value}",
            code="vm_state_conflict",
            details={"state": vm["state"].value, "allowed": allowed},
        )
    return vm
