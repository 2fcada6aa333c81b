"""CPU compatibility between hosts: this host's CPU, whether it can run another's, and
the CPU a group of hosts can all run (a cluster's baseline)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import libvirt

from cna_agent.errors import AgentError
from cna_agent.virt.connection import translate, translate_error


@dataclass(frozen=True, slots=True)
class CpuComparison:
    """Whether a host can run a CPU definition, and libvirt's reason when it cannot."""

    compatible: bool
    relation: Literal["identical", "superset", "incompatible"]
    detail: str = ""


# --- CPU compatibility ------------------------------------------------------------


def host_cpu_xml(conn: libvirt.virConnect) -> str:
    """This host's CPU (model, vendor, features) as libvirt's capabilities describe it."""
    with translate():
        caps = ET.fromstring(conn.getCapabilities())
    cpu = caps.find("host/cpu")
    if cpu is None:
        raise AgentError("libvirt's capabilities describe no host CPU")
    return ET.tostring(cpu, encoding="unicode")


_RELATIONS: dict[int, Literal["identical", "superset", "incompatible"]] = {
    libvirt.VIR_CPU_COMPARE_IDENTICAL: "identical",
    libvirt.VIR_CPU_COMPARE_SUPERSET: "superset",
    libvirt.VIR_CPU_COMPARE_INCOMPATIBLE: "incompatible",
}


def compare_cpu(conn: libvirt.virConnect, cpu_xml: str) -> CpuComparison:
    """Whether this host's CPU can run ``cpu_xml`` (a host or guest CPU definition)."""
    try:
        code = int(conn.compareCPU(cpu_xml, libvirt.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE))
    except libvirt.libvirtError as exc:
        message = exc.get_error_message() or str(exc)
        # A feature or model this libvirt does not know (say, from a newer source host)
        # is as good as missing: the guest could not get it here.
        if exc.get_error_code() == libvirt.VIR_ERR_CPU_INCOMPATIBLE or "Unknown CPU" in message:
            return CpuComparison(False, "incompatible", message)
        raise translate_error(exc) from exc
    relation = _RELATIONS.get(code, "incompatible")
    return CpuComparison(relation != "incompatible", relation)


def baseline_cpu(conn: libvirt.virConnect, cpu_xmls: Sequence[str]) -> str:
    """The CPU definition every one of ``cpu_xmls`` can run, safe to migrate between them."""
    with translate():
        return str(conn.baselineCPU(list(cpu_xmls), libvirt.VIR_CONNECT_BASELINE_CPU_MIGRATABLE))
