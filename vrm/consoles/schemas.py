"""Console API schemas: asking for a console, and the ticket VRM answers with."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from cna_agent.protocol.consoles import ConsoleType
from vrm.schemas import CreateModel


class ConsoleCreate(CreateModel):
    """Which console of the VM to open."""

    type: ConsoleType = Field(
        default=ConsoleType.VNC, description="vnc (RFB, for noVNC) or serial (ttyS0 bytes)"
    )


class ConsoleTicketIssued(BaseModel):
    """A one-time ticket and the websocket URL to present it at (shown only here)."""

    ticket: str = Field(description="valid once, for a few seconds, for this user and VM")
    url: str = Field(description="the websocket path on VRM, ticket included")
    expires_at: datetime
    type: ConsoleType
    vm_id: uuid.UUID
