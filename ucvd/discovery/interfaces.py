"""The network interfaces a scan can use, and their IPv4 address and network.

Read with the classic ioctls (SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFFLAGS), so no extra
package and no subprocess: cheap, and the answer is the kernel's, in ucvd's own network
namespace. Only the interface's primary IPv4 address counts; WS-Discovery is IPv4 here.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import socket
import struct

_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFNAMSIZ = 16


class InterfaceError(ValueError):
    """The interface cannot be used for a scan; the message says why."""


def names() -> list[str]:
    return sorted(name for _index, name in socket.if_nameindex())


def _ioctl(sock: socket.socket, request: int, name: str) -> bytes:
    return fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name.encode()))


def _valid_name(name: str) -> bool:
    return 0 < len(name.encode()) < _IFNAMSIZ and not any(
        ch in "/:" or ch.isspace() or not ch.isprintable() for ch in name
    )


def ipv4(name: str) -> ipaddress.IPv4Interface:
    """The interface's address with its network, e.g. 192.0.2.10/24."""
    if not _valid_name(name) or name not in names():
        known = ", ".join(n for n in names() if n != "lo") or "none"
        raise InterfaceError(f"no network interface {name!r} (interfaces: {known})")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            flags = struct.unpack_from("H", _ioctl(sock, _SIOCGIFFLAGS, name), 16)[0]
            address = _ioctl(sock, _SIOCGIFADDR, name)[20:24]
            netmask = _ioctl(sock, _SIOCGIFNETMASK, name)[20:24]
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise InterfaceError(f"interface {name!r} has no IPv4 address") from None
            raise InterfaceError(f"interface {name!r}: {exc.strerror}") from None
    if flags & _IFF_LOOPBACK:
        raise InterfaceError(f"interface {name!r} is the loopback; cameras are not there")
    if not flags & _IFF_UP:
        raise InterfaceError(f"interface {name!r} is down")
    return ipaddress.IPv4Interface(f"{socket.inet_ntoa(address)}/{socket.inet_ntoa(netmask)}")


def candidates() -> dict[str, ipaddress.IPv4Interface]:
    """Every interface that is up, not the loopback, and has an IPv4 address."""
    found: dict[str, ipaddress.IPv4Interface] = {}
    for name in names():
        try:
            found[name] = ipv4(name)
        except InterfaceError:
            continue
    return found


def choose(
    name: str | None, subnet: ipaddress.IPv4Network | None
) -> tuple[str, ipaddress.IPv4Interface] | None:
    """The interface to send WS-Discovery on.

    Named: that one (or an error). Otherwise the one whose network overlaps the subnet, or
    the only candidate there is. None when a subnet was named that no interface is on (the
    sweep still runs, through the routing table; multicast cannot cross a router anyway).
    """
    if name is not None:
        return name, ipv4(name)
    found = candidates()
    if subnet is not None:
        on = [(n, i) for n, i in found.items() if i.network.overlaps(subnet)]
        return on[0] if on else None
    if len(found) == 1:
        return next(iter(found.items()))
    if not found:
        raise InterfaceError("no interface with an IPv4 address is up; nothing to scan")
    raise InterfaceError(
        f"several interfaces could be scanned ({', '.join(sorted(found))}); name one"
    )
