"""Sending a WS-Discovery Probe on one interface and collecting the ProbeMatch replies.

The socket is bound to the interface's own address and multicasts through that interface
only (IP_MULTICAST_IF), with a TTL of 1: the Probe never leaves the chosen link. Replies
come back unicast to that socket. The Probe is sent twice, 0.5 s apart, because UDP can
lose it (WS-Discovery's own advice is to repeat a multicast message).
"""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import structlog

from ucvd.discovery.wsdiscovery import MULTICAST_GROUP, PORT, ProbeMatch, parse_probe_matches
from ucvd.discovery.wsdiscovery import probe_message as build_probe

log = structlog.get_logger(__name__)

REPEAT_AFTER_S = 0.5
MAX_DATAGRAM = 65536

Found = Callable[[str, ProbeMatch], Awaitable[None]]


async def probe(interface: ipaddress.IPv4Interface, listen_s: float, found: Found) -> None:
    """Probe, then hand each new (source address, match) to `found` for `listen_s` seconds.

    A device is reported once per endpoint, however many replies or XAddrs it sends.
    """
    message_id = f"urn:uuid:{uuid.uuid4()}"
    message = build_probe(message_id)
    seen: set[str] = set()
    async with await anyio.create_udp_socket(
        family=socket.AF_INET, local_host=str(interface.ip), local_port=0
    ) as udp:
        raw: socket.socket = udp.extra(anyio.abc.SocketAttribute.raw_socket)  # noqa: S610
        raw.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, interface.ip.packed)
        raw.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        raw.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)

        async def send() -> None:
            for attempt in range(2):
                if attempt:
                    await anyio.sleep(REPEAT_AFTER_S)
                try:
                    await udp.sendto(message, MULTICAST_GROUP, PORT)
                except OSError as exc:
                    log.warning("WS-Discovery probe not sent", error=str(exc))

        with anyio.move_on_after(listen_s):
            async with anyio.create_task_group() as tg:
                tg.start_soon(send)
                async for data, (host, _port) in udp:
                    for match in parse_probe_matches(data[:MAX_DATAGRAM], message_id):
                        if match.endpoint not in seen:
                            seen.add(match.endpoint)
                            await found(host, match)
