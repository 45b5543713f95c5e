"""One discovery scan: WS-Discovery, ONVIF queries and the RTSP sweep, within one deadline.

Everything runs side by side in one task group: each ProbeMatch starts its ONVIF query as
soon as it arrives (bounded by a limiter), and the sweep's workers pull (address, port)
pairs from one iterator, so at most `concurrency` connections are ever open. The deadline
is absolute: whatever is still running when it passes is cut, and the report says so
(`complete` false) instead of the scan overrunning the operator's timeout.
"""

from __future__ import annotations

import ipaddress
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

import anyio
import structlog

from ucvd.discovery import multicast, onvif_client, rtsp_probe
from ucvd.discovery.onvif_client import Credentials, OnvifDevice, OnvifStatus
from ucvd.discovery.rtsp_probe import RtspService
from ucvd.discovery.subnet import hosts
from ucvd.discovery.wsdiscovery import ProbeMatch, xaddrs_on

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_CONCURRENCY = 256
ONVIF_CONCURRENCY = 16
# WS-Discovery listens for this share of the timeout; the rest is left for the ONVIF
# queries of the devices that answered last.
LISTEN_SHARE = 0.6


@dataclass(frozen=True)
class Plan:
    interface: tuple[str, ipaddress.IPv4Interface] | None  # None: no WS-Discovery
    subnet: ipaddress.IPv4Network | None  # None: no sweep
    ports: tuple[int, ...]
    timeout: float
    credentials: Credentials | None
    concurrency: int = DEFAULT_CONCURRENCY


@dataclass
class Finding:
    address: str
    match: ProbeMatch | None = None
    onvif: OnvifDevice | None = None
    rtsp: list[RtspService] = field(default_factory=list)


@dataclass
class Report:
    findings: dict[str, Finding]
    probed: int
    complete: bool
    seconds: float


def _targets(
    subnet: ipaddress.IPv4Network | None, ports: tuple[int, ...]
) -> Iterator[tuple[str, int]]:
    if subnet is None:
        return
    for host in hosts(subnet):
        for port in ports:
            yield str(host), port


async def _check_streams(host: str, device: OnvifDevice, credentials: Credentials | None) -> None:
    """DESCRIBE each stream URI the device handed out, on that device only (credentials go
    nowhere else), side by side."""
    user = credentials.username if credentials else None
    password = credentials.password if credentials else None

    async def check(profile: onvif_client.StreamProfile, uri: str) -> None:
        profile.access = await rtsp_probe.check_stream(uri, user, password)

    async with anyio.create_task_group() as tg:
        for profile in device.profiles:
            if profile.uri and host_of(profile.uri) == host:
                tg.start_soon(check, profile, profile.uri)


def host_of(url: str) -> str | None:
    try:
        return urllib.parse.urlsplit(url).hostname
    except ValueError:
        return None


async def run(plan: Plan) -> Report:
    started = time.monotonic()
    deadline = anyio.current_time() + plan.timeout
    findings: dict[str, Finding] = {}
    onvif_limit = anyio.CapacityLimiter(ONVIF_CONCURRENCY)
    targets = _targets(plan.subnet, plan.ports)
    probed = 0
    complete = True

    def finding(address: str) -> Finding:
        return findings.setdefault(address, Finding(address))

    async def ask(host: str, url: str) -> None:
        nonlocal complete
        result = OnvifDevice(OnvifStatus.UNREACHABLE, "no answer before the scan's timeout")
        with anyio.CancelScope(deadline=deadline) as scope:
            async with onvif_limit:
                result = await onvif_client.query(url, host, plan.credentials)
                finding(host).onvif = result
                await _check_streams(host, result, plan.credentials)
        if scope.cancelled_caught:
            complete = False
        finding(host).onvif = result

    async def sweep_worker() -> None:
        nonlocal probed
        for host, port in targets:  # one shared iterator: workers never repeat a pair
            probed += 1
            service = await rtsp_probe.probe(host, port)
            if service is not None:
                finding(host).rtsp.append(service)

    async with anyio.create_task_group() as tg:

        async def found(host: str, match: ProbeMatch) -> None:
            entry = finding(host)
            if entry.match is not None:
                return
            entry.match = match
            urls = xaddrs_on(match, host)
            if not urls:
                entry.onvif = OnvifDevice(
                    OnvifStatus.ERROR, "its service address is not on the host that answered"
                )
                return
            tg.start_soon(ask, host, urls[0])

        if plan.interface is not None:
            _name, interface = plan.interface
            listen = plan.timeout * LISTEN_SHARE
            tg.start_soon(multicast.probe, interface, listen, found)
        with anyio.CancelScope(deadline=deadline) as sweep_scope:
            async with anyio.create_task_group() as sweep:
                for _ in range(plan.concurrency):
                    sweep.start_soon(sweep_worker)
        if sweep_scope.cancelled_caught:
            complete = False
    for entry in findings.values():
        entry.rtsp.sort(key=lambda s: s.port)
    seconds = time.monotonic() - started
    log.info(
        "discovery scan done",
        devices=len(findings),
        probed=probed,
        complete=complete,
        seconds=round(seconds, 2),
    )
    return Report(findings=findings, probed=probed, complete=complete, seconds=seconds)
