"""Which socket may use the TLS link: the row of /proc/net/tcp it is judged by."""

from __future__ import annotations

import errno
import socket

from ucvd.relay.tlslink import _why, owner_uid
from ucvd.service import _implied_transport_changes as implied

HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode\n"
)


def row(local: str, remote: str, state: str, uid: int, inode: int) -> str:
    return (f"   0: {local} {remote} {state} 00000000:00000000 00:00000000 00000000 "
            f"{uid:5d}        0 {inode} 1 0000000000000000 20 4 30 10 -1\n")  # fmt: skip


def test_an_open_socket_of_an_account_is_that_accounts() -> None:
    table = HEADER + row("0100007F:D920", "0100007F:97DB", "01", 999, 4242)
    if socket.htonl(1) == 1:  # big-endian: the kernel prints 127.0.0.1 as 7F000001
        table = table.replace("0100007F", "7F000001")
    assert owner_uid(table, 0xD920, 0x97DB) == 999
    assert owner_uid(table, 0xD921, 0x97DB) is None  # another port
    assert owner_uid(table, 0xD920, 0x97DC) is None  # connected elsewhere


def test_an_unresolvable_name_is_said_so() -> None:
    said = _why(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    assert said == "cannot resolve the host name (name or service not known)"
    assert _why(ConnectionRefusedError(errno.ECONNREFUSED, "x")) == "connection refused"


def test_a_closed_socket_lingering_as_root_is_nobodys() -> None:
    # FIN_WAIT2 (05) and TIME_WAIT (06) rows show uid 0 and inode 0 once their owner closed
    lingering = row("0100007F:D920", "0100007F:97DB", "05", 0, 0)
    waiting = row("0100007F:D920", "0100007F:97DB", "06", 0, 0)
    assert owner_uid(HEADER + lingering, 0xD920, 0x97DB) is None
    assert owner_uid(HEADER + waiting, 0xD920, 0x97DB) is None
    # ... even beside the listener's own row for the same pair
    server_side = row("0100007F:97DB", "0100007F:D920", "01", 0, 77)
    assert owner_uid(HEADER + server_side + waiting, 0xD920, 0x97DB) is None


def test_an_update_of_one_transport_setting_implies_the_others() -> None:
    assert implied({"tls_fingerprint": "ab" * 32}) == {"tls_ca_file": None}
    assert implied({"tls_ca_file": "/ca.pem"}) == {"tls_fingerprint": None}
    assert implied({"tls_fingerprint": None}) == {}  # clearing one clears only it
    assert implied({"rtsp_url": "rtsp://mtx:8554"}) == {
        "tls_ca_file": None, "tls_fingerprint": None, "srt_passphrase": None,
    }  # fmt: skip
    assert implied({"rtsp_url": "srt://mtx:8890"}) == {"tls_ca_file": None, "tls_fingerprint": None}
    assert implied({"rtsp_url": "rtsps://mtx:8322"}) == {"srt_passphrase": None}
    given: dict[str, object] = {"rtsp_url": "rtsp://mtx:8554", "srt_passphrase": "x" * 10}
    assert "srt_passphrase" not in implied(given)  # what is given is not overridden


def test_an_update_with_a_url_urlsplit_cannot_read_implies_without_failing() -> None:
    # valid.target refuses it by name afterwards; this step must not raise first
    assert implied({"rtsp_url": "rtsp://admin:pw@[::1/x"}) == {
        "tls_ca_file": None, "tls_fingerprint": None, "srt_passphrase": None,
    }  # fmt: skip
