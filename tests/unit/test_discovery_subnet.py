"""What a scan may touch: subnets, their limits, ports."""

from __future__ import annotations

import pytest

from ucvd.discovery.subnet import (
    DEFAULT_PORTS,
    InvalidScope,
    host_count,
    hosts,
    parse_ports,
    parse_subnet,
)


@pytest.mark.parametrize(
    ("text", "force", "count"),
    [
        ("192.168.1.0/24", False, 254),
        ("10.1.4.0/22", False, 1022),
        ("10.1.0.0/21", True, 2046),
        ("10.0.0.0/16", True, 65534),
        ("192.168.1.7/32", False, 1),
        ("192.168.1.6/31", False, 2),
        (" 192.168.1.0/30 ", False, 2),
    ],
)
def test_allowed_subnets(text: str, force: bool, count: int) -> None:
    network = parse_subnet(text, force=force)
    assert host_count(network) == count == sum(1 for _ in hosts(network))


@pytest.mark.parametrize(
    ("text", "force", "words"),
    [
        ("10.1.0.0/21", False, "has 2046 addresses, more than a /22; name a smaller subnet"),
        ("10.0.0.0/15", True, "larger than a /16"),
        ("0.0.0.0/0", True, "larger than a /16"),
        ("192.168.1.1/24", False, "has host bits set (did you mean 192.168.1.0/24?)"),
        ("192.168.1.0/33", False, "not an IPv4 network in CIDR notation"),
        ("lan", False, "not an IPv4 network"),
        ("", False, "not an IPv4 network"),
        ("2001:db8::/120", False, "only IPv4 subnets"),
        ("239.255.255.0/24", False, "not a LAN of hosts"),
        ("127.0.0.0/24", False, "not a LAN of hosts"),
    ],
)
def test_refused_subnets(text: str, force: bool, words: str) -> None:
    with pytest.raises(InvalidScope) as caught:
        parse_subnet(text, force=force)
    assert words in str(caught.value)


def test_hosts_never_include_network_or_broadcast() -> None:
    addresses = [str(a) for a in hosts(parse_subnet("192.0.2.0/29"))]
    assert addresses == [f"192.0.2.{n}" for n in range(1, 7)]


def test_ports() -> None:
    assert parse_ports(None) == DEFAULT_PORTS == (554, 8554)
    assert parse_ports([]) == DEFAULT_PORTS
    assert parse_ports([8554, 554, 8554, 10554]) == (8554, 554, 10554)
    with pytest.raises(InvalidScope, match="port 0 is not between 1 and 65535"):
        parse_ports([0])
    with pytest.raises(InvalidScope, match="at most 16 ports"):
        parse_ports(list(range(1000, 1017)))
