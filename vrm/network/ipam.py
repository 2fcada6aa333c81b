"""Address math for IP pools: parsing, containment, range sizes and overlaps.

Addresses and networks are stored as ``ipaddress``'s canonical strings; this
module turns them back into objects and checks the rules a pool must keep.
IPv4 networks up to /30 keep their network and broadcast addresses out of
gateways and ranges; in /31, /32 and IPv6 networks every address is usable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from vrm.errors import Conflict, ValidationFailed

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Span(NamedTuple):
    """An inclusive range of addresses of one IP version."""

    start: Address
    end: Address

    @property
    def size(self) -> int:
        """How many addresses the span holds."""
        return int(self.end) - int(self.start) + 1

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return address.version == self.start.version and (
            int(self.start) <= int(address) <= int(self.end)
        )


def canonical_address(text: str) -> str:
    """``text`` as ``ipaddress`` writes it; ValueError when it is not a plain IP address."""
    if "%" in text:
        raise ValueError("scoped addresses (with %zone) are not allowed")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 address") from None


def address(text: str) -> Address:
    """A stored (canonical) address as an object."""
    return ipaddress.ip_address(text)


def parse_cidr(text: str) -> Network:
    """The network ``text`` names exactly; 422 ``invalid_cidr`` otherwise (with a suggestion)."""
    details: dict[str, object] = {"field": "cidr", "value": text}
    if "/" not in text or "%" in text:
        raise ValidationFailed(
            f"cidr: {text!r} is not a network in CIDR notation (e.g. 10.0.0.0/24)",
            code="invalid_cidr",
            details=details,
        )
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValidationFailed(
            f"cidr: {text!r} is not an IPv4 or IPv6 network in CIDR notation",
            code="invalid_cidr",
            details=details,
        ) from None
    raise ValidationFailed(
        f"cidr: {text!r} has host bits set; did you mean {loose}?",
        code="invalid_cidr",
        details={**details, "suggestion": str(loose)},
    )


def usable(network: Network) -> Span:
    """The addresses of ``network`` that hosts and gateways may use."""
    if network.version == 4 and network.prefixlen <= 30:
        return Span(network.network_address + 1, network.broadcast_address - 1)
    return Span(network.network_address, network.broadcast_address)


def _usable_text(network: Network) -> str:
    span = usable(network)
    return f"{span.start} - {span.end}"


def check_version(network: Network, field: str, value: str) -> None:
    """422 ``ip_version_mismatch`` when ``value`` is not of the network's IP version."""
    if address(value).version != network.version:
        raise ValidationFailed(
            f"{field}: {value} is not an IPv{network.version} address like the cidr {network}",
            code="ip_version_mismatch",
            details={"field": field, "value": value, "cidr": str(network)},
        )


def check_gateway(network: Network, gateway: str | None) -> None:
    """422 ``gateway_outside_cidr`` unless the gateway is a usable address of ``network``."""
    if gateway is None:
        return
    check_version(network, "gateway", gateway)
    if address(gateway) in usable(network):
        return
    raise ValidationFailed(
        f"gateway: {gateway} is not a usable address of {network} ({_usable_text(network)})",
        code="gateway_outside_cidr",
        details={"field": "gateway", "value": gateway, "cidr": str(network)},
    )


def check_ranges(network: Network, ranges: Sequence[tuple[str, str]]) -> list[Span]:
    """The ranges as spans, each inside ``network`` and none overlapping another."""
    spans = [_span(network, index, start, end) for index, (start, end) in enumerate(ranges)]
    ordered = sort_spans(spans)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if int(after.start) <= int(before.end):
            raise Conflict(
                f"ranges {_text(before)} and {_text(after)} overlap",
                code="ip_range_overlap",
                details={"ranges": [_text(before), _text(after)]},
            )
    return ordered


def _span(network: Network, index: int, start: str, end: str) -> Span:
    """One range of a request, checked against ``network``."""
    field = f"ranges[{index}]"
    check_version(network, f"{field}.start", start)
    check_version(network, f"{field}.end", end)
    span = Span(address(start), address(end))
    allowed = usable(network)
    for point in span:
        if point not in allowed:
            raise ValidationFailed(
                f"{field}: {point} is not a usable address of {network} ({_usable_text(network)})",
                code="range_outside_cidr",
                details={"field": field, "value": str(point), "cidr": str(network)},
            )
    if int(span.start) > int(span.end):
        raise ValidationFailed(
            f"{field}: start {start} is after end {end}",
            code="invalid_range",
            details={"field": field, "start": start, "end": end},
        )
    return span


def check_inside(network: Network, field: str, addresses: Sequence[str]) -> None:
    """422 ``ip_outside_cidr`` for the first of ``addresses`` that ``network`` does not hold."""
    for index, text in enumerate(addresses):
        point = address(text)
        if point.version != network.version or point not in network:
            raise ValidationFailed(
                f"{field}[{index}]: {text} is not an address of {network}",
                code="ip_outside_cidr",
                details={"field": f"{field}[{index}]", "value": text, "cidr": str(network)},
            )


def check_gateway_not_in_ranges(gateway: str | None, spans: Iterable[Span]) -> None:
    """409 ``gateway_in_range``: the allocator must never hand out the gateway."""
    if gateway is None:
        return
    for span in spans:
        if address(gateway) in span:
            raise Conflict(
                f"gateway {gateway} lies in the range {_text(span)}",
                code="gateway_in_range",
                details={"gateway": gateway, "range": _text(span)},
            )


def outside(addresses: Iterable[str], spans: Sequence[Span]) -> list[str]:
    """The addresses that lie in none of ``spans``."""
    return [a for a in addresses if not any(address(a) in span for span in spans)]


def overlapping(network: Network, cidrs: Iterable[str]) -> str | None:
    """The first of ``cidrs`` (of either IP version) that overlaps ``network``, if any."""
    for cidr in cidrs:
        other = ipaddress.ip_network(cidr)
        if other.version == network.version and other.overlaps(network):
            return cidr
    return None


def spans_of(ranges: Iterable[tuple[str, str]]) -> list[Span]:
    """Stored (valid, canonical) ranges as spans."""
    return [Span(address(start), address(end)) for start, end in ranges]


def _text(span: Span) -> str:
    return f"{span.start}-{span.end}"


def sort_spans(spans: Iterable[Span]) -> list[Span]:
    """``spans`` in address order."""
    return sorted(spans, key=lambda span: int(span.start))
