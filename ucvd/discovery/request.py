"""From `discovery.scan` params to a scan plan, refusing bad input with precise words.

The one place that decides what a scan may touch: the subnet exactly as named (checked
against the /22 rule), the interface named or the one on that subnet, the ports.
"""

from __future__ import annotations

from ucvd.api import protocol as p
from ucvd.discovery import interfaces
from ucvd.discovery.onvif_client import Credentials
from ucvd.discovery.scan import Plan
from ucvd.discovery.subnet import InvalidScope, parse_ports, parse_subnet


def plan_for(params: p.DiscoveryScan) -> Plan:
    """Raises InvalidScope or interfaces.InterfaceError."""
    subnet = parse_subnet(params.subnet, force=params.force) if params.subnet else None
    ports = parse_ports(params.ports)
    if params.password is not None and params.username is None:
        raise InvalidScope("a password without a username cannot be used")
    credentials = Credentials(params.username, params.password or "") if params.username else None
    interface = interfaces.choose(params.interface, subnet)
    return Plan(
        interface=interface,
        subnet=subnet,
        ports=ports,
        timeout=params.timeout,
        credentials=credentials,
        concurrency=params.concurrency,
    )
