"""SQL for console tickets and for what a console needs to know of its VM and host."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Row, RowMapping, delete, select, update

from vrm.models import ConsoleTicket, Host, Role, User, Vm
from vrm.repository import Repository

# What a console needs of a VM and of the host it runs on now (outer join: maybe none).
_TARGET = select(
    Vm.id,
    Vm.uuid,
    Vm.name,
    Vm.state,
    Vm.is_template,
    Vm.host_id,
    Vm.console_exclusive,
    Host.agent_url,
).outerjoin(Host, Host.id == Vm.host_id)


class ConsoleTicketRepository(Repository[ConsoleTicket]):
    """Console tickets (only their hashes), and the rows a console is opened from."""

    model = ConsoleTicket

    def spend(self, token_hash: str, now: datetime) -> Row[uuid.UUID, uuid.UUID, str] | None:
        """Mark the unused, unexpired ticket with this hash used, in one compare-and-swap;
        its user, VM and type, or None when it is unknown, used or expired."""
        stmt = (
            update(ConsoleTicket)
            .where(ConsoleTicket.token_hash == token_hash)
            .where(ConsoleTicket.used_at.is_(None), ConsoleTicket.expires_at > now)
            .values(used_at=now)
            .returning(ConsoleTicket.user_id, ConsoleTicket.vm_id, ConsoleTicket.type)
            .execution_options(synchronize_session=False)
        )
        return self.session.execute(stmt).first()

    def purge(self, *, expired_before: datetime) -> None:
        """Delete the tickets that expired before ``expired_before`` (used or not)."""
        stmt = delete(ConsoleTicket).where(ConsoleTicket.expires_at < expired_before)
        self.session.execute(stmt.execution_options(synchronize_session=False))

    def permissions_of(self, user_id: uuid.UUID) -> list[str] | None:
        """What the role of an enabled user grants; None when the user is gone or disabled."""
        stmt = (
            select(Role.permissions)
            .join(User, User.role_id == Role.id)
            .where(User.id == user_id, User.enabled.is_(True))
        )
        found = self.session.execute(stmt).first()
        return [str(p) for p in found[0]] if found is not None else None

    def target(self, vm_id: uuid.UUID) -> RowMapping | None:
        """The VM's state and console settings, and its current host's agent URL."""
        return self.session.execute(_TARGET.where(Vm.id == vm_id)).mappings().first()
