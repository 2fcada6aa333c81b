"""Address math of IP pools, without a database."""

from __future__ import annotations

import ipaddress

import pytest

from vrm.errors import Conflict, ValidationFailed
from vrm.network import ipam


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:10.0.0.1", "::ffff:a00:1"),
    ],
)
def test_canonical_address(text: str, canonical: str) -> None:
    assert ipam.canonical_address(text) == canonical


@pytest.mark.parametrize("text", ["", "10.0.0", "10.0.0.256", "010.0.0.1", "fe80::1%eth0", "x"])
def test_canonical_address_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="address"):
        ipam.canonical_address(text)


def test_parse_cidr_is_strict_and_suggests() -> None:
    assert ipam.parse_cidr("10.0.0.0/255.255.255.0") == ipaddress.ip_network("10.0.0.0/24")
    with pytest.raises(ValidationFailed) as caught:
        ipam.parse_cidr("192.168.1.77/16")
    assert caught.value.code == "invalid_cidr"
    assert caught.value.details["suggestion"] == "192.168.0.0/16"
    for text in ("10.0.0.0", "nonsense/8", "10.0.0.0/-1"):
        with pytest.raises(ValidationFailed):
            ipam.parse_cidr(text)


@pytest.mark.parametrize(
    ("cidr", "first", "last"),
    [
        ("10.0.0.0/24", "10.0.0.1", "10.0.0.254"),
        ("10.0.0.0/30", "10.0.0.1", "10.0.0.2"),
        ("10.0.0.0/31", "10.0.0.0", "10.0.0.1"),
        ("10.0.0.9/32", "10.0.0.9", "10.0.0.9"),
        ("fd00::/126", "fd00::", "fd00::3"),
    ],
)
def test_usable(cidr: str, first: str, last: str) -> None:
    span = ipam.usable(ipam.parse_cidr(cidr))
    assert (str(span.start), str(span.end)) == (first, last)


def test_span_size_and_membership() -> None:
    span = ipam.Span(ipam.address("10.0.0.10"), ipam.address("10.0.0.19"))
    assert span.size == 10
    assert ipam.address("10.0.0.19") in span
    assert ipam.address("10.0.0.20") not in span
    assert ipam.address("::a00:a") not in span
    assert "10.0.0.10" not in span


def test_check_ranges_sorts_and_finds_overlaps() -> None:
    network = ipam.parse_cidr("10.0.0.0/24")
    spans = ipam.check_ranges(network, [("10.0.0.100", "10.0.0.110"), ("10.0.0.2", "10.0.0.9")])
    assert [str(s.start) for s in spans] == ["10.0.0.2", "10.0.0.100"]
    with pytest.raises(Conflict) as caught:
        ipam.check_ranges(network, [("10.0.0.2", "10.0.0.9"), ("10.0.0.9", "10.0.0.12")])
    assert caught.value.code == "ip_range_overlap"


def test_gateway_rules() -> None:
    network = ipam.parse_cidr("fd00::/64")
    ipam.check_gateway(network, "fd00::1")
    ipam.check_gateway(network, None)
    with pytest.raises(ValidationFailed, match="IPv6"):
        ipam.check_gateway(network, "10.0.0.1")
    with pytest.raises(ValidationFailed) as caught:
        ipam.check_gateway(network, "fd01::1")
    assert caught.value.code == "gateway_outside_cidr"
    spans = ipam.spans_of([("fd00::10", "fd00::20")])
    with pytest.raises(Conflict):
        ipam.check_gateway_not_in_ranges("fd00::15", spans)
    ipam.check_gateway_not_in_ranges("fd00::1", spans)


def test_overlapping_ignores_other_versions() -> None:
    network = ipam.parse_cidr("10.0.0.0/8")
    assert ipam.overlapping(network, ["::/0", "11.0.0.0/8"]) is None
    assert ipam.overlapping(network, ["::/0", "10.20.0.0/16"]) == "10.20.0.0/16"


def test_outside() -> None:
    spans = ipam.spans_of([("10.0.0.1", "10.0.0.5")])
    assert ipam.outside(["10.0.0.1", "10.0.0.6", "10.0.0.5"], spans) == ["10.0.0.6"]
