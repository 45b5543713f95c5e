"""The real daemon, handed its control socket the way systemd's ucvd.socket hands it over.

The test plays systemd: it binds and listens on the socket itself, puts it at descriptor 3
of the daemon with LISTEN_PID/LISTEN_FDS set (sd_listen_fds(3)), and keeps it open across
the daemon's restart, as PID 1 does. The unit itself runs under a real systemd in the boot
test (`make vm-test`).
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from tests.harness.daemon import Ucvd, program
from tests.harness.procs import ProcessRegistry


def activated(fd: int) -> list[str]:
    """A prefix that puts `fd` at 3 and names the daemon's own pid, as systemd does."""
    script = f'exec 3<&{fd} {fd}<&-; export LISTEN_PID=$$ LISTEN_FDS=1; exec "$@"'
    return ["bash", "-c", script, "bash"]


def listening(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(16)
    path.chmod(0o660)
    return sock


def read_reply(sock: socket.socket) -> dict[str, object]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a reply; got {data!r}"
        data += chunk
    reply: dict[str, object] = json.loads(data)
    return reply


def test_the_passed_socket_is_served_kept_and_callers_wait_through_a_restart(
    registry: ProcessRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "run" / "ucvd.sock"
    listener = listening(path)
    mode = path.stat().st_mode
    daemon = Ucvd(registry, tmp_path / "d", prefix=activated(listener.fileno()))
    own_path = daemon.socket  # what --socket says; an activated daemon must not bind it
    daemon.socket = path
    daemon.start(pass_fds=(listener.fileno(),))

    info = daemon.ctl_json("info")
    assert info["socket"] == str(path)
    assert info["pid"] == daemon.pid
    assert not own_path.exists()

    code, _ = daemon.terminate()
    assert code == 0
    # systemd's socket: still there, untouched, still listening.
    assert path.exists() and path.stat().st_mode == mode

    # A caller while no daemon runs: connected at once (the backlog), answered once the
    # next daemon takes over the same socket.
    caller = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    caller.settimeout(60)
    caller.connect(str(path))
    caller.sendall(b'{"jsonrpc":"2.0","id":7,"method":"daemon.info"}\n')
    first_pid = info["pid"]
    daemon.start(pass_fds=(listener.fileno(),))
    reply = read_reply(caller)
    caller.close()
    assert reply["id"] == 7, reply
    result = reply["result"]
    assert isinstance(result, dict)
    assert result["pid"] == daemon.pid != first_pid

    # ucvctl through the same socket, as an operator would.
    done = subprocess.run(
        [program("ucvctl"), "--socket", str(path), "health"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    code, _ = daemon.terminate()
    assert code == 0
    assert path.exists()
    listener.close()


def test_a_wrong_descriptor_is_one_clear_line_and_exit_1(
    registry: ProcessRegistry, tmp_path: Path
) -> None:
    datagram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    datagram.bind(str(tmp_path / "dgram.sock"))
    daemon = Ucvd(registry, tmp_path / "d", prefix=activated(datagram.fileno()))
    proc = registry.spawn("ucvd", [*daemon.prefix, *daemon.argv()], pass_fds=(datagram.fileno(),))
    assert proc.popen.wait(timeout=30) == 1
    log = proc.log_path.read_text()
    assert "ucvd: not starting: the socket systemd passed is not a listening Unix stream" in log
    assert "Traceback" not in log
    datagram.close()
