"""Host states and the transitions between them: the one place these rules live.

::

    connecting ──beat──▶ normal ◀──beat── fault
                          │  ▲  ╲──silence──▶ fault
          enter-maintenance│  │evacuation failed / cancelled, exit-maintenance
                          ▼  │
                      maintaining ──evacuated──▶ maintenance

Every change is a compare-and-swap from the transition's allowed states
(``HostStateRepository.apply``), so a heartbeat, the liveness job and a maintenance
task can never undo each other. Only ``normal`` hosts take VMs (placement, migration
targets); hosts in ``maintenance`` are not expected to report and are never marked
``fault``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vrm.models.enums import HostState as S


class Transition(StrEnum):
    """Everything that changes a host's state."""

    # The agent reports (a new host's first heartbeat, or a faulty host's return).
    REPORT = "report"
    # The agent stayed silent for VRM_HOST_FAULT_AFTER.
    SILENCE = "silence"
    ENTER_MAINTENANCE = "enter-maintenance"
    # The maintenance task emptied the host.
    EVACUATED = "evacuated"
    # The maintenance task failed or was cancelled: the host goes back to service.
    EVACUATION_ENDED = "evacuation-ended"
    EXIT_MAINTENANCE = "exit-maintenance"


@dataclass(frozen=True, slots=True)
class Rule:
    """From which states a transition may happen, and where it leads."""

    allowed: frozenset[S]
    to: S


RULES: dict[Transition, Rule] = {
    Transition.REPORT: Rule(frozenset({S.CONNECTING, S.FAULT}), S.NORMAL),
    Transition.SILENCE: Rule(frozenset({S.CONNECTING, S.NORMAL, S.MAINTAINING}), S.FAULT),
    Transition.ENTER_MAINTENANCE: Rule(frozenset({S.NORMAL}), S.MAINTAINING),
    Transition.EVACUATED: Rule(frozenset({S.MAINTAINING}), S.MAINTENANCE),
    Transition.EVACUATION_ENDED: Rule(frozenset({S.MAINTAINING}), S.NORMAL),
    Transition.EXIT_MAINTENANCE: Rule(frozenset({S.MAINTENANCE}), S.NORMAL),
}

# Hosts whose agents are expected to report: silence makes them fault.
WATCHED: frozenset[S] = RULES[Transition.SILENCE].allowed
# Hosts that take new VMs (placement, clone, migration targets).
SCHEDULABLE: frozenset[S] = frozenset({S.NORMAL})
# Hosts put aside by an operator.
IN_MAINTENANCE: frozenset[S] = frozenset({S.MAINTAINING, S.MAINTENANCE})


def rule(transition: Transition) -> Rule:
    """The rule of a transition."""
    return RULES[transition]


def allows(transition: Transition, state: S) -> bool:
    """Whether a host in ``state`` may take ``transition``."""
    return state in RULES[transition].allowed
