"""A private LAN made of network namespaces, for tests that must not touch real networks.

    switch namespace: bridge br0 ──veth── host namespace A (eth0 192.0.2.x/24)
                                 ──veth── host namespace B ...

Every veth is created with both ends already inside the LAN's namespaces (one in the
switch, its peer in the host), so no interface ever appears in the machine's own namespace,
and nothing in the LAN has a route out: its traffic cannot leave it. The addresses are
TEST-NET-1 (192.0.2.0/24, RFC 5737), which nothing real uses. `close()` deletes every
namespace (their interfaces go with them); processes inside belong to the caller's
`ProcessRegistry`, which stops them first.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tests.harness.errors import HarnessError

T = TypeVar("T")
SUBNET = "192.0.2.0/24"
_CLONE_NEWNET = 0x40000000


def _ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HarnessError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def unavailable() -> str | None:
    """Why namespaces cannot be made here (None: they can): a skip reason, said plainly."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN, CAP_SYS_ADMIN); not root"
    name = f"ucvt-check-{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", name)
    except FileNotFoundError:
        return "the `ip` command (iproute2) is not installed"
    except HarnessError as exc:
        return f"cannot create a network namespace: {exc}"
    with contextlib.suppress(HarnessError):
        _ip("netns", "del", name)
    return None


@dataclass
class Host:
    """One machine of the LAN: its namespace and address."""

    lan: Lan
    name: str
    netns: str
    address: str

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns]

    def run(self, fn: Callable[[], T]) -> T:
        return self.lan.run_in(self.netns, fn)

    def interfaces(self) -> list[dict[str, Any]]:
        links: list[dict[str, Any]] = json.loads(_ip("-n", self.netns, "-j", "link", "show"))
        return links


class Lan:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.switch = f"ucvt-{self.tag}-sw"
        self.namespaces: list[str] = []
        self.hosts: dict[str, Host] = {}
        _ip("netns", "add", self.switch)
        self.namespaces.append(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        _ip("-n", self.switch, "link", "set", "br0", "up")

    def add_host(self, name: str, octet: int) -> Host:
        """A namespace with `eth0` at 192.0.2.<octet>/24 on the bridge, and its loopback up."""
        netns = f"ucvt-{self.tag}-{name}"
        port = f"p{len(self.hosts)}"
        _ip("netns", "add", netns)
        self.namespaces.append(netns)
        _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
            "netns", netns)  # fmt: skip
        _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        _ip("-n", netns, "addr", "add", f"192.0.2.{octet}/24", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        # Multicast (WS-Discovery) goes out on the LAN even for clients that do not pick an
        # interface; there is no other route, so nothing can go anywhere else.
        _ip("-n", netns, "route", "add", "224.0.0.0/4", "dev", "eth0")
        host = Host(lan=self, name=name, netns=netns, address=f"192.0.2.{octet}")
        self.hosts[name] = host
        return host

    def set_link(self, name: str, *, up: bool) -> None:
        """Take a host's port on the switch down (its link goes dark: frames to and from it
        are dropped without a word) or bring it back up."""
        port = f"p{list(self.hosts).index(name)}"
        _ip("-n", self.switch, "link", "set", port, "up" if up else "down")

    def pin_neighbours(self, a: Host, b: Host) -> None:
        """Permanent ARP entries between two hosts: while a link is dark, their packets
        vanish instead of failing at once with "no route to host" when ARP goes unanswered."""
        for here, there in ((a, b), (b, a)):
            links = json.loads(_ip("-n", there.netns, "-j", "link", "show", "eth0"))
            _ip("-n", here.netns, "neigh", "replace", there.address, "lladdr",
                links[0]["address"], "dev", "eth0", "nud", "permanent")  # fmt: skip

    @staticmethod
    def run_in(netns: str, fn: Callable[[], T]) -> T:
        """Run `fn` in a fresh thread that has entered `netns`: sockets it opens live there.

        setns(CLONE_NEWNET) changes only the calling thread, and the thread ends with `fn`,
        so the test process itself never leaves its own namespace.
        """
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
                try:
                    libc = ctypes.CDLL(None, use_errno=True)
                    if libc.setns(fd, _CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns into {netns} failed")
                finally:
                    os.close(fd)
                box["value"] = fn()
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=target, name=f"netns-{netns}")
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]  # type: ignore[no-any-return]

    def peers_outside(self) -> list[str]:
        """Interfaces of the LAN's namespaces whose other end is not inside the LAN: must
        be none. (A veth's peer namespace is shown by `link-netnsid`; an interface of any
        other kind but the bridge and loopback counts as a way out.)"""
        ours = set(self.namespaces)
        ids: dict[str, dict[int, str]] = {}
        for ns in ours:
            listed = json.loads(_ip("-n", ns, "-j", "netns", "list-id") or "[]")
            ids[ns] = {int(e["nsid"]): e.get("name", "?") for e in listed}
        leaks = []
        for ns in sorted(ours):
            for link in json.loads(_ip("-n", ns, "-j", "-d", "link", "show")):
                kind = (link.get("linkinfo") or {}).get("info_kind")
                if link["ifname"] == "lo" or kind == "bridge":
                    continue
                peer = ids[ns].get(link.get("link_netnsid", -1))
                if kind != "veth" or peer not in ours:
                    leaks.append(f"{ns}/{link['ifname']} ({kind}, peer {peer})")
        return leaks

    def close(self) -> None:
        for netns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
        self.namespaces.clear()
        self.hosts.clear()

    def __enter__(self) -> Lan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def exists(names: Sequence[str]) -> list[str]:
    listed = _ip("netns", "list")
    present = {line.split()[0] for line in listed.splitlines() if line.strip()}
    return [n for n in names if n in present]
