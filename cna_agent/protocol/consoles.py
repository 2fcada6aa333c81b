"""The wire format of console relays: VRM opens a websocket on the agent
(``/v1/vms/{uuid}/console/ws``) and bytes flow both ways in binary frames."""

from __future__ import annotations

from enum import IntEnum, StrEnum

CONSOLE_WS_PATH = "/v1/vms/{uuid}/console/ws"


class ConsoleType(StrEnum):
    """Which console of a domain a relay carries."""

    VNC = "vnc"  # RFB from the domain's VNC UNIX socket
    SERIAL = "serial"  # the first serial port (ttyS0), through libvirt's console stream


class ConsoleClose(IntEnum):
    """Websocket close codes of a relay (4000-4999 are the application's); the close
    reason is a message for the person watching."""

    DONE = 1000
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404  # no such domain, or it has no such console
    NOT_RUNNING = 4409  # the domain is not running
    BUSY = 4423  # exclusive console already watched by someone else
    FAILED = 4500  # the node could not open the console
