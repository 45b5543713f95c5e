"""What a scan may touch: the subnet the operator named, the ports, the limits. Pure.

A sweep never reaches beyond the named subnet, and a subnet larger than a /22 (1022 hosts)
is refused unless forced: on a site LAN a bigger sweep is almost always a typo (a /16 is
65 534 hosts) and would hammer the network for minutes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

DEFAULT_PORTS = (554, 8554)
MAX_UNFORCED_PREFIX = 22  # /22 = 1022 hosts; anything wider needs force
MAX_FORCED_PREFIX = 16  # even forced, a /16 is the ceiling (65 534 hosts)
MAX_PORTS = 16


class InvalidScope(ValueError):
    """The subnet or ports cannot be scanned; the message says why, for the operator."""


def parse_subnet(text: str, *, force: bool = False) -> ipaddress.IPv4Network:
    """An IPv4 network in CIDR notation; host bits set are an error (a typo to point out)."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            try:
                fixed = ipaddress.ip_network(text.strip(), strict=False)
            except ValueError:
                fixed = None
            hint = f" (did you mean {fixed}?)" if fixed is not None else ""
            raise InvalidScope(f"subnet {text!r} has host bits set{hint}") from None
        raise InvalidScope(f"subnet {text!r} is not an IPv4 network in CIDR notation") from None
    if not isinstance(network, ipaddress.IPv4Network):
        raise InvalidScope(f"subnet {text!r}: only IPv4 subnets can be scanned")
    if network.prefixlen < MAX_FORCED_PREFIX:
        raise InvalidScope(
            f"subnet {network} is larger than a /{MAX_FORCED_PREFIX}; scan smaller subnets"
        )
    if network.prefixlen < MAX_UNFORCED_PREFIX and not force:
        raise InvalidScope(
            f"subnet {network} has {host_count(network)} addresses, more than a "
            f"/{MAX_UNFORCED_PREFIX}; name a smaller subnet or force the scan"
        )
    if network.is_multicast or network.is_unspecified or network.is_loopback:
        raise InvalidScope(f"subnet {network} is not a LAN of hosts")
    return network


def host_count(network: ipaddress.IPv4Network) -> int:
    """As `hosts` counts them: a /31 and a /32 have no network or broadcast address."""
    return network.num_addresses - 2 if network.prefixlen <= 30 else network.num_addresses


def hosts(network: ipaddress.IPv4Network) -> Iterator[ipaddress.IPv4Address]:
    """The host addresses: no network or broadcast address (a /31 and /32 keep theirs)."""
    return iter(network.hosts())


def parse_ports(ports: Sequence[int] | None) -> tuple[int, ...]:
    """Ports to sweep, de-duplicated in the order given; none means the usual RTSP ports."""
    if not ports:
        return DEFAULT_PORTS
    seen: list[int] = []
    for port in ports:
        if not 1 <= port <= 65535:
            raise InvalidScope(f"port {port} is not between 1 and 65535")
        if port not in seen:
            seen.append(port)
    if len(seen) > MAX_PORTS:
        raise InvalidScope(f"at most {MAX_PORTS} ports per scan")
    return tuple(seen)
