"""`ucvctl`: the operator's client. Thin on purpose: argparse, a socket, msgspec.

Exit codes: 0 done; 1 the daemon refused or the operation failed (the reason on stderr,
with its kind); 2 usage error; 3 the daemon cannot be reached (which socket, and why).
`--json` prints exactly the RPC result, one JSON document per line, for scripts.
Passwords are read from stdin (`--password-stdin`) or asked on a terminal, never taken
as arguments, where `ps` and shell history would keep them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import msgspec

from ucvctl import render
from ucvctl.client import Client, RemoteError, TimedOut, Unreachable
from ucvd.api import protocol as p
from ucvd.domain.audio import AudioPolicy
from ucvd.domain.model import CameraOptions, Transport
from ucvd.version import __version__

# What `ucvctl status` does not need is imported where it is used, not here: the site file
# commands (ucvctl.sitecmd: TOML, the site plan, validation, hashlib), tokens and stills
# (ucvctl.tokencmd), getpass, the host exposure check. tests/unit/test_ucvctl_is_light.py
# holds the status path to its modules.

DEFAULT_SOCKET = "/run/ucvd/ucvd.sock"
SOCKET_ENV = "UCVD_SOCKET"
R = TypeVar("R")  # an RPC result
T = TypeVar("T")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class UsageError(Exception):
    pass


class Failed(Exception):
    """The operation did not succeed (not a daemon error: e.g. --wait saw it fail)."""


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _raw(data: bytes) -> None:
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.buffer.flush()


# --- argument parsing ---------------------------------------------------------------------
Build = Callable[[argparse.ArgumentParser], None]  # adds a command's arguments to its parser

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsers = argparse._SubParsersAction  # not subscriptable at run time


def _columns() -> int:
    """The terminal's width as shutil.get_terminal_size() gives it, without importing shutil
    (with zlib, bz2 and lzma): argparse imports it for its first formatter unless told the
    width."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class _Formatter(argparse.HelpFormatter):
    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
        **kwargs: Any,
    ) -> None:
        width = _columns() - 2 if width is None else width  # as HelpFormatter does
        super().__init__(prog, indent_increment, max_help_position, width, **kwargs)


class _LazyCommands(_SubParsers):
    """Subcommands whose parsers are built only for the command given.

    Building every command's parser took longer than the rest of `ucvctl status` together
    (argparse looks each of its messages up in the translation catalogues on disk, for every
    parser and argument). `ucvctl --help` lists the commands from their one-line help alone,
    and `ucvctl COMMAND --help` builds that command's parser, so no output changes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._builders: dict[str, Build] = {}

    def command(self, name: str, text: str, build: Build) -> None:
        self._builders[name] = build
        self._choices_actions.append(self._ChoicesPseudoAction(name, (), text))  # the listing
        self._name_parser_map[name] = cast(argparse.ArgumentParser, None)  # a valid choice

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        build = self._builders.pop(values[0], None)
        if build is not None:
            del self._name_parser_map[values[0]]
            # No help=: the listing has its line already.
            build(self.add_parser(values[0], formatter_class=_Formatter))
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ucvctl",
        description="Control the ucvd camera gateway daemon over its Unix socket.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"ucvctl {__version__}")
    parser.add_argument(
        "--socket", metavar="PATH",
        help=f"control socket (default ${SOCKET_ENV}, then {DEFAULT_SOCKET})",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the RPC result as JSON")
    sub = cast(
        _LazyCommands,
        parser.add_subparsers(
            dest="command", metavar="COMMAND", required=True, action=_LazyCommands
        ),
    )
    for name, text, build in COMMANDS:
        sub.command(name, text, build)
    return parser


def _publish_parser(c: argparse.ArgumentParser) -> None:
    c.add_argument("id")
    c.add_argument("--force-restart", action="store_true", help="restart it if it is running")
    c.add_argument("--wait", action="store_true", help="wait until it is publishing")
    c.add_argument("--timeout", type=float, default=30.0, help="for --wait (seconds)")


def _id(c: argparse.ArgumentParser) -> None:
    c.add_argument("id")


def _optional_id(c: argparse.ArgumentParser) -> None:
    c.add_argument("id", nargs="?")


def _watch_parser(c: argparse.ArgumentParser) -> None:
    c.add_argument("id", nargs="?")
    c.add_argument("--for", dest="seconds", type=float, help="stop after this many seconds")


def _logs_parser(c: argparse.ArgumentParser) -> None:
    c.add_argument("id")
    c.add_argument("-n", "--lines", type=int, default=50)
    c.add_argument("-f", "--follow", action="store_true")


def _history_parser(c: argparse.ArgumentParser) -> None:
    c.add_argument("id")
    c.add_argument("-n", "--limit", type=int, default=20)


def _no_arguments(_c: argparse.ArgumentParser) -> None:
    pass


def _site_file_parser(c: argparse.ArgumentParser) -> None:
    from ucvctl import sitecmd

    sitecmd.site_file_arguments(c)


def _export_parser(c: argparse.ArgumentParser) -> None:
    from ucvctl import sitecmd

    sitecmd.export_arguments(c)


def _token_parser(c: argparse.ArgumentParser) -> None:
    from ucvctl import tokencmd

    tokencmd.token_arguments(c)


def _still_parser(c: argparse.ArgumentParser) -> None:
    from ucvctl import tokencmd

    tokencmd.still_arguments(c)


def _camera_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for verb in ("add", "update"):
        c = sub.add_parser(verb, help=f"{verb} a camera")
        c.add_argument("id")
        c.add_argument("--url", required=verb == "add", help="rtsp:// or rtsps:// stream URL")
        c.add_argument("--username")
        c.add_argument("--password-stdin", action="store_true", help="read the password")
        c.add_argument("--name", help="display name")
        c.add_argument("--transport", choices=("tcp", "udp"))
        audio = c.add_mutually_exclusive_group()
        audio.add_argument(
            "--audio",
            choices=[str(p) for p in AudioPolicy],
            help="the first audio track: copy it (default), drop it, or transcode it to AAC "
            "(video is always copied)",
        )
        audio.add_argument(
            "--no-audio", action="store_true", default=None, help="the same as --audio drop"
        )
        c.add_argument("--genpts", action="store_true", default=None)
        c.add_argument("--wallclock-timestamps", action="store_true", default=None)
        c.add_argument("--max-reconnects", type=int)
        if verb == "add":
            c.add_argument(
                "--sub-url", metavar="URL",
                help="also register the camera's sub stream, linked to it (same credentials "
                "and options)",
            )  # fmt: skip
            c.add_argument("--sub-id", metavar="ID", help="the sub stream's id (default ID-sub)")
            c.add_argument("--main", metavar="ID", help="register it as the sub stream of ID")
    sub.add_parser("list", help="all cameras")
    for verb, text in (("show", "one camera"), ("remove", "forget a stopped camera"),
                       ("probe", "ask the camera what it sends")):  # fmt: skip
        sub.add_parser(verb, help=text).add_argument("id")


def _discover_parser(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="the whole scan, seconds (default 5)",
    )
    c.add_argument("--interface", metavar="IF", help="send WS-Discovery on this interface")
    c.add_argument("--subnet", metavar="CIDR", help="also sweep this subnet for RTSP servers")
    c.add_argument(
        "--port",
        type=int,
        action="append",
        dest="ports",
        metavar="N",
        help="RTSP port to sweep (repeat; default 554 and 8554)",
    )
    c.add_argument("--force", action="store_true", help="allow a subnet wider than a /22")
    c.add_argument("--concurrency", type=int, help="sweep connections at once (default 256)")
    c.add_argument("--username", help="ONVIF user to try on every camera found")
    c.add_argument("--password-stdin", action="store_true", help="read its password")
    c.add_argument("--add", metavar="PREFIX", help="register new cameras as PREFIX-1, PREFIX-2...")
    c.add_argument("--json", action="store_true", dest="discover_json",
                   help="print the RPC result as JSON (as ucvctl --json discover)")  # fmt: skip


def _target_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for verb in ("add", "update"):
        c = sub.add_parser(verb, help=f"{verb} a MediaMTX target")
        c.add_argument("name")
        c.add_argument(
            "--url",
            required=verb == "add",
            help="rtsp://host:8554, rtsps://host:8322 or srt://host:8890",
        )
        c.add_argument("--api-url", help="http://host:9997 (MediaMTX Control API)")
        c.add_argument("--no-api", action="store_true", help="do not use the API")
        c.add_argument("--username", help="publish user")
        c.add_argument("--password-stdin", action="store_true", help="read its password")
        c.add_argument("--api-username", help="API user, when not the publish user")
        c.add_argument(
            "--api-password-stdin", action="store_true",
            help="read the API password (the line after the publish password)",
        )  # fmt: skip
        c.add_argument("--max-reconnects", type=int, help="give up after N failures (0 never)")
        c.add_argument("--reconnect-delay", type=float, help="first retry delay, seconds")
        c.add_argument("--path-template", help="default camera_{camera_id}")
        player = c.add_mutually_exclusive_group() if verb == "update" else c
        player.add_argument(
            "--player-url", metavar="URL",
            help="MediaMTX's web player, e.g. http://host:8889/ ('' for none)",
        )  # fmt: skip
        if verb == "update":
            player.add_argument("--no-player-url", action="store_true", help="no player URL")
        c.add_argument(
            "--ca-file", metavar="PEM",
            help="rtsps: trust this CA (a path ucvd can read; '' for the system's CAs)",
        )  # fmt: skip
        c.add_argument(
            "--fingerprint", metavar="SHA256",
            help="rtsps: trust exactly this certificate, for a self-signed server ('' for none)",
        )  # fmt: skip
        c.add_argument(
            "--srt-passphrase-stdin", action="store_true",
            help="srt: read the SRT passphrase (the line after the passwords)",
        )  # fmt: skip
        if verb == "update":
            c.add_argument("--no-srt-passphrase", action="store_true", help="srt: no passphrase")
        if verb == "add":
            c.add_argument("--activate", action="store_true", help="make it the active target")
    sub.add_parser("list", help="all targets (* marks the active one)")
    for verb, text in (("show", "one target"), ("activate", "publish to this target"),
                       ("remove", "forget a target"), ("check", "can ucvd reach it?")):  # fmt: skip
        sub.add_parser(verb, help=text).add_argument("name")


# Every command: its name, its line in `ucvctl --help`, and what adds its arguments.
COMMANDS: tuple[tuple[str, str, Build], ...] = (
    ("publish", "start relaying a camera to the active target", _publish_parser),
    ("stop", "stop relaying a camera", _id),
    ("restart", "restart its FFmpeg", _id),
    ("status", "publication status (all cameras, or one)", _optional_id),
    ("watch", "live status, refreshed from the daemon's events", _watch_parser),
    ("logs", "FFmpeg's recent output for a camera", _logs_parser),
    ("history", "past publication sessions of a camera", _history_parser),
    ("info", "daemon version, FFmpeg, counts", _no_arguments),
    ("health", "is anything wrong? (exit 1 if so)", _no_arguments),
    ("reload", "re-read the daemon's config file", _no_arguments),
    ("discover", "find cameras on the LAN (ONVIF, RTSP)", _discover_parser),
    ("camera", "manage cameras", _camera_parser),
    ("target", "manage MediaMTX targets", _target_parser),
    ("apply", "make the daemon's state what a site file says (shows the plan)",
     _site_file_parser),
    ("diff", "show what apply would change (exit 0: nothing, 4: changes)", _site_file_parser),
    ("export", "print the daemon's state as a site file", _export_parser),
    ("token", "access tokens for the web dashboard (ucvd-web)", _token_parser),
    ("still", "save one picture (JPEG) of what a camera shows", _still_parser),
)  # fmt: skip


# --- passwords ----------------------------------------------------------------------------
class _Stdin:
    """Passwords from stdin, one per line, in the order asked; or prompts on a terminal."""

    def __init__(self) -> None:
        self._lines: list[str] | None = None

    def read(self, what: str) -> str:
        if sys.stdin.isatty():
            import getpass

            return getpass.getpass(f"{what}: ")
        if self._lines is None:
            self._lines = sys.stdin.read().splitlines()
        if not self._lines:
            raise UsageError(f"{what}: nothing on stdin")
        return self._lines.pop(0)


def _password(args: argparse.Namespace, flag: str, user: str | None, stdin: _Stdin) -> str | None:
    if getattr(args, flag, False):
        return stdin.read(f"password for {user or 'the user'}")
    if user is not None and sys.stdin.isatty() and flag == "password_stdin":
        import getpass

        entered = getpass.getpass(f"password for {user} (empty for none): ")
        return entered or None
    return None


# --- commands -----------------------------------------------------------------------------
class Commands:
    def __init__(self, args: argparse.Namespace, client: Client) -> None:
        self.args = args
        self.client = client
        self.json = bool(args.json)

    def show(
        self,
        method: str,
        params: msgspec.Struct,
        result_type: type[R],
        text: Callable[[R], str],
        adjust: Callable[[R], R] | None = None,
    ) -> R:
        raw = self.client.call_raw(method, params)
        result = msgspec.json.decode(raw, type=result_type)
        if adjust is not None:
            result = adjust(result)
            raw = msgspec.json.encode(result)
        if self.json:
            _raw(raw)
        else:
            _out(text(result))
        return result

    def publish(self) -> int:
        a = self.args
        params = p.PublishStart(camera_id=a.id, force_restart=a.force_restart)
        if not a.wait:
            self.show("publishing.start", params, p.PublicationStatus, _started)
            return EXIT_OK
        self.client.call_raw("events.subscribe", p.Subscribe(camera_ids=[a.id]))
        raw = self.client.call_raw("publishing.start", params)
        status = msgspec.json.decode(raw, type=p.PublicationStatus)
        if status.status != "publishing":
            status = self._wait_publishing(a.id, a.timeout)
        if self.json:
            _raw(msgspec.json.encode(status))
        else:
            _out(f"{status.camera_id}: publishing to {status.publish_path}")
        return EXIT_OK

    def _wait_publishing(self, camera_id: str, timeout: float) -> p.PublicationStatus:
        deadline = time.monotonic() + timeout
        self.client.settimeout(max(0.1, timeout))
        try:
            for note in self.client.notifications():
                if note.method == p.STATUS_EVENT:
                    event = msgspec.json.decode(note.params, type=p.StatusEvent)
                    if event.new == "failed":
                        why = render.error_words(event.error, width=300)
                        raise Failed(f"{camera_id} failed: {why}")
                    if event.new == "stopped":
                        raise Failed(f"{camera_id} was stopped")
                    if event.new == "publishing":
                        break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.client.settimeout(remaining)
        except TimedOut:
            pass
        status = self._status(camera_id)
        if status.status != "publishing":
            why = render.error_words(status.last_error, width=300)
            raise Failed(
                f"{camera_id} is not publishing after {timeout:g}s (status {status.status}; "
                f"last error: {why})"
            )
        return status

    def _status(self, camera_id: str) -> p.PublicationStatus:
        self.client.settimeout(30)
        return self.client.call(
            "publishing.status", p.StatusQuery(camera_id=camera_id), p.PublicationStatus
        )

    def stop(self) -> int:
        self.show("publishing.stop", p.PublishRef(camera_id=self.args.id), p.PublicationStatus,
                  lambda s: f"{s.camera_id}: stopped")  # fmt: skip
        return EXIT_OK

    def restart(self) -> int:
        self.show("publishing.restart", p.PublishRef(camera_id=self.args.id), p.PublicationStatus,
                  lambda s: f"{s.camera_id}: restarting ({s.status})")  # fmt: skip
        return EXIT_OK

    def status(self) -> int:
        if self.args.id:
            self.show("publishing.status", p.StatusQuery(camera_id=self.args.id),
                      p.PublicationStatus, render.status_detail)  # fmt: skip
        else:
            self.show("publishing.status", p.StatusQuery(), p.StatusList, render.status_table)
        return EXIT_OK

    def watch(self) -> int:
        a = self.args
        ids = [a.id] if a.id else None
        statuses: dict[str, p.PublicationStatus] = {}
        if a.id:
            statuses[a.id] = self.client.call("publishing.status",
                                              p.StatusQuery(camera_id=a.id),
                                              p.PublicationStatus)  # fmt: skip
        else:
            for s in self.client.call("publishing.status", p.StatusQuery(), p.StatusList).items:
                statuses[s.camera_id] = s
        self.client.call_raw("events.subscribe", p.Subscribe(camera_ids=ids))
        deadline = None if a.seconds is None else time.monotonic() + a.seconds
        live = sys.stdout.isatty() and not self.json
        if live:
            self._redraw(statuses)
        elif not self.json:
            _out(render.status_table(_as_list(statuses)))
        try:
            self.client.settimeout(None if deadline is None else max(0.05, a.seconds))
            for note in self.client.notifications():
                self._apply(note, statuses, live)
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self.client.settimeout(remaining)
        except TimedOut:
            pass
        except KeyboardInterrupt:
            pass
        return EXIT_OK

    def _apply(self, note: Any, statuses: dict[str, p.PublicationStatus], live: bool) -> None:
        if self.json:
            _raw(msgspec.json.encode({"method": note.method, "params": note.params}))
            return
        if note.method == p.STATUS_EVENT:
            e = msgspec.json.decode(note.params, type=p.StatusEvent)
            old = statuses.get(e.camera_id)
            if old is not None:
                statuses[e.camera_id] = msgspec.structs.replace(
                    old, status=e.new, last_error=e.error or old.last_error
                )
            if not live:
                why = f"  ({render.error_words(e.error, width=200)})" if e.error else ""
                _out(f"{render.local_time(e.at)}  {e.camera_id}: {e.old} -> {e.new}{why}")
        elif note.method == p.METRICS_EVENT:
            m = msgspec.json.decode(note.params, type=p.MetricsEvent)
            old = statuses.get(m.camera_id)
            if old is not None:
                statuses[m.camera_id] = msgspec.structs.replace(
                    old, metrics=m.metrics, uptime_seconds=m.uptime_seconds
                )
        if live:
            self._redraw(statuses)

    @staticmethod
    def _redraw(statuses: dict[str, p.PublicationStatus]) -> None:
        sys.stdout.write("\x1b[H\x1b[2J" + render.status_table(_as_list(statuses)) + "\n")
        sys.stdout.write("(live; Ctrl-C to quit)\n")
        sys.stdout.flush()

    def logs(self) -> int:
        a = self.args
        if not 1 <= a.lines <= 10_000:
            raise UsageError("-n must be between 1 and 10000")
        after = 0
        while True:
            raw = self.client.call_raw(
                "publishing.logs", p.LogsQuery(camera_id=a.id, lines=a.lines, after=after)
            )
            result = msgspec.json.decode(raw, type=p.Logs)
            if self.json:
                _raw(raw)
            else:
                for line in result.lines:
                    _out(f"{render.local_time(line.at)}  {line.text}")
            if not a.follow:
                return EXIT_OK
            after = result.last_seq
            try:
                time.sleep(1.0)
            except KeyboardInterrupt:
                return EXIT_OK

    def history(self) -> int:
        a = self.args
        if not 1 <= a.limit <= 10_000:
            raise UsageError("-n must be between 1 and 10000")
        self.show("publishing.history", p.HistoryQuery(camera_id=a.id, limit=a.limit),
                  p.History, render.history_table)  # fmt: skip
        return EXIT_OK

    def info(self) -> int:
        self.show("daemon.info", p.NoParams(), p.DaemonInfo, render.info_text, _with_host_warnings)
        return EXIT_OK

    def health(self) -> int:
        result = self.show(
            "daemon.health", p.NoParams(), p.Health, _health_text, _with_host_warnings
        )
        return EXIT_OK if result.healthy else EXIT_FAILED

    def reload(self) -> int:
        self.show("daemon.reload", p.NoParams(), p.ReloadResult, _reload_text)
        return EXIT_OK

    def camera(self) -> int:
        a = self.args
        if a.action == "add":
            self.show("camera.add", _camera_add(a), p.CameraView, render.camera_detail)
        elif a.action == "update":
            # One option flag must not reset the others (a UDP camera to TCP): start from
            # the camera's own.
            current = None
            if _options_given(a):
                raw = self.client.call_raw("camera.get", p.CameraRef(id=a.id))
                current = msgspec.json.decode(raw, type=p.CameraView).options
            params = _camera_update(a, current)
            self.show("camera.update", params, p.CameraView, render.camera_detail)
        elif a.action == "list":
            self.show("camera.list", p.NoParams(), p.CameraList, render.camera_table)
        elif a.action == "show":
            self.show("camera.get", p.CameraRef(id=a.id), p.CameraView, render.camera_detail)
        elif a.action == "remove":
            self.show("camera.remove", p.CameraRef(id=a.id), p.Done, lambda _r: f"{a.id}: removed")
        elif a.action == "probe":
            self.show("camera.probe", p.CameraRef(id=a.id), p.ProbeResult, render.probe_text)
        return EXIT_OK

    def discover(self) -> int:
        a = self.args
        if not 0.5 <= a.timeout <= 120:
            raise UsageError("--timeout must be between 0.5 and 120 seconds")
        if a.password_stdin and a.username is None:
            raise UsageError("--password-stdin needs --username")
        if a.concurrency is not None and not 1 <= a.concurrency <= 1024:
            raise UsageError("--concurrency must be between 1 and 1024")
        defaults = p.DiscoveryScan()
        params = p.DiscoveryScan(
            timeout=a.timeout,
            interface=a.interface,
            subnet=a.subnet,
            ports=a.ports,
            force=a.force,
            concurrency=_or(a.concurrency, defaults.concurrency),
            username=a.username,
            password=_password(a, "password_stdin", a.username, _Stdin()),
            add_prefix=a.add,
        )
        self.json = self.json or a.discover_json
        self.client.settimeout(a.timeout + 30)  # the daemon answers when the scan is over
        self.show("discovery.scan", params, p.DiscoveryResult, render.discovery_table)
        return EXIT_OK

    def target(self) -> int:
        a = self.args
        if a.action == "add":
            self.show("target.add", _target_add(a), p.TargetView, render.target_detail)
        elif a.action == "update":
            self.show("target.update", _target_update(a), p.TargetView, render.target_detail)
        elif a.action == "list":
            self.show("target.list", p.NoParams(), p.TargetList, render.target_table)
        elif a.action == "show":
            self.show("target.get", p.TargetRef(name=a.name), p.TargetView, render.target_detail)
        elif a.action == "activate":
            self.show("target.activate", p.TargetRef(name=a.name), p.TargetView,
                      lambda t: f"{t.name}: active; running publications move to it")  # fmt: skip
        elif a.action == "remove":
            self.show(
                "target.remove", p.TargetRef(name=a.name), p.Done, lambda _r: f"{a.name}: removed"
            )
        elif a.action == "check":
            ref = p.TargetRef(name=a.name)
            result = self.show("target.check", ref, p.TargetCheck, render.check_text)
            return EXIT_OK if result.ok else EXIT_FAILED
        return EXIT_OK

    # Configuration as code: ucvctl/sitecmd.py
    def apply(self) -> int:
        return _site_command(lambda sitecmd: sitecmd.apply(self.args, self.client, self.json))

    def diff(self) -> int:
        return _site_command(lambda sitecmd: sitecmd.diff(self.args, self.client, self.json))

    def export(self) -> int:
        return _site_command(lambda sitecmd: sitecmd.export(self.args, self.client))

    # The dashboard's tokens, and pictures: ucvctl/tokencmd.py
    def token(self) -> int:
        from ucvctl import tokencmd

        return tokencmd.token(self.args, self.client, self.json)

    def still(self) -> int:
        from ucvctl import tokencmd

        return tokencmd.still(self.args, self.client, self.json)


def _site_command(run: Callable[[Any], int]) -> int:
    """A site file command; a file it cannot use fails the command, with the reason."""
    from ucvctl import sitecmd
    from ucvctl.siteconfig import SiteFileError

    try:
        return run(sitecmd)
    except SiteFileError as exc:
        raise Failed(str(exc)) from None


def _as_list(statuses: dict[str, p.PublicationStatus]) -> p.StatusList:
    items = [statuses[k] for k in sorted(statuses)]
    active = sum(1 for s in items if s.status != "stopped")
    return p.StatusList(total=len(items), active=active, items=items)


def _started(s: p.PublicationStatus) -> str:
    return f"{s.camera_id}: {s.status} -> {s.publish_path} on {s.target}"


_Warned = TypeVar("_Warned", p.Health, p.DaemonInfo)


def _with_host_warnings(result: _Warned) -> _Warned:
    """The daemon's warnings, plus what this client sees of the host: under its unit the
    daemon has a /proc of its own and cannot tell how the host's is mounted."""
    from ucvd.host import exposure

    found: list[str] = [w for w in exposure.warnings() if w not in result.warnings]
    if not found:
        return result
    return msgspec.structs.replace(result, warnings=[*result.warnings, *found])


def _health_text(h: p.Health) -> str:
    if h.healthy:
        c = h.counts
        text = f"healthy: {c.publishing} publishing, {c.cameras} cameras"
    else:
        text = "problems:\n" + "\n".join(f"  - {problem}" for problem in h.problems)
    return text + "".join(f"\nwarning: {warning}" for warning in h.warnings)


def _reload_text(r: p.ReloadResult) -> str:
    if not r.changed:
        return "reloaded: nothing changed"
    text = "reloaded: " + ", ".join(r.changed)
    if r.restarted:
        text += f"\nrestarted to apply: {', '.join(r.restarted)}"
    if r.left_failed:
        text += (
            f"\nstill failed (a reload never retries what gave up): {', '.join(r.left_failed)}"
            "\n  `ucvctl restart ID` retries one with the new settings"
        )
    return text


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def _given(value: T | None) -> T | msgspec.UnsetType:
    """An option left out is a field left as it is (unset), not one set to null."""
    return msgspec.UNSET if value is None else value


def _options_given(a: argparse.Namespace) -> bool:
    return bool(a.transport or a.audio or a.no_audio or a.genpts or a.wallclock_timestamps) or (
        a.max_reconnects is not None
    )


def _camera_options(
    a: argparse.Namespace, base: CameraOptions | None = None
) -> CameraOptions | None:
    """The options the flags name, the others as in `base` (the camera's own, for an update:
    the daemon replaces the options whole) or at their defaults; None when no flag is given
    (the daemon then keeps, or on add defaults, them all)."""
    if not _options_given(a):
        return None
    d = base or CameraOptions()
    return CameraOptions(
        audio=AudioPolicy.DROP if a.no_audio else AudioPolicy(a.audio) if a.audio else d.audio,
        transport=Transport(a.transport) if a.transport else d.transport,
        genpts=True if a.genpts else d.genpts,
        wallclock_timestamps=True if a.wallclock_timestamps else d.wallclock_timestamps,
        max_reconnects=_or(a.max_reconnects, d.max_reconnects),
    )


def _camera_add(a: argparse.Namespace) -> p.CameraAdd:
    if a.sub_id is not None and a.sub_url is None:
        raise UsageError("--sub-id needs --sub-url")
    if a.main is not None and a.sub_url is not None:
        raise UsageError("--main registers a sub stream, which has no --sub-url of its own")
    password = _password(a, "password_stdin", a.username, _Stdin())
    return p.CameraAdd(
        id=a.id,
        url=a.url,
        username=a.username,
        password=password,
        name=_or(a.name, ""),
        options=_or(_camera_options(a), CameraOptions()),
        main_id=a.main,
        sub_url=a.sub_url,
        sub_id=a.sub_id,
    )


def _camera_update(a: argparse.Namespace, current: CameraOptions | None) -> p.CameraUpdate:
    password = _password(a, "password_stdin", a.username, _Stdin())
    return p.CameraUpdate(
        id=a.id,
        url=_given(a.url),
        username=_given(a.username),
        password=_given(password),
        name=_given(a.name),
        options=_given(_camera_options(a, current)),
    )


def _target_passwords(a: argparse.Namespace) -> tuple[str | None, str | None, str | None]:
    """The publish password, then the API password, then the SRT passphrase, a line each
    on stdin in that order."""
    stdin = _Stdin()
    password = _password(a, "password_stdin", a.username, stdin)
    api_password = None
    if a.api_password_stdin:
        api_password = stdin.read(f"API password for {a.api_username or a.username}")
    passphrase = stdin.read("SRT passphrase") if a.srt_passphrase_stdin else None
    return password, api_password, passphrase


def _target_add(a: argparse.Namespace) -> p.TargetAdd:
    password, api_password, passphrase = _target_passwords(a)
    defaults = p.TargetAdd(name=a.name, rtsp_url=a.url)
    return p.TargetAdd(
        name=a.name,
        rtsp_url=a.url,
        api_url=a.api_url,
        api_enabled=not a.no_api,
        username=a.username,
        password=password,
        api_username=a.api_username,
        api_password=api_password,
        max_reconnects=_or(a.max_reconnects, defaults.max_reconnects),
        reconnect_delay=_or(a.reconnect_delay, defaults.reconnect_delay),
        path_template=_or(a.path_template, defaults.path_template),
        player_url=a.player_url or None,
        tls_ca_file=a.ca_file or None,
        tls_fingerprint=a.fingerprint or None,
        srt_passphrase=passphrase,
        activate=a.activate,
    )


def _cleared(value: str | None) -> str | msgspec.UnsetType | None:
    """An optional setting's flag: absent changes nothing, '' clears it."""
    return None if value == "" else _given(value)


def _target_update(a: argparse.Namespace) -> p.TargetUpdate:
    password, api_password, passphrase = _target_passwords(a)
    return p.TargetUpdate(
        name=a.name,
        rtsp_url=_given(a.url),
        api_url=_given(a.api_url),
        api_enabled=False if a.no_api else msgspec.UNSET,
        username=_given(a.username),
        password=_given(password),
        api_username=_given(a.api_username),
        api_password=_given(api_password),
        max_reconnects=_given(a.max_reconnects),
        reconnect_delay=_given(a.reconnect_delay),
        path_template=_given(a.path_template),
        player_url=None if a.no_player_url else _cleared(a.player_url),
        tls_ca_file=_cleared(a.ca_file),
        tls_fingerprint=_cleared(a.fingerprint),
        srt_passphrase=None if a.no_srt_passphrase else _given(passphrase),
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error
    path = args.socket or os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET
    try:
        with Client(path) as client:
            handler: Callable[[], int] = getattr(Commands(args, client), args.command)
            return handler()
    except UsageError as exc:
        print(f"ucvctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Unreachable as exc:
        print(f"ucvctl: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except RemoteError as exc:
        kind = f" [{exc.kind}]" if exc.kind else ""
        print(f"ucvctl: {exc.message}{kind}", file=sys.stderr)
        return EXIT_FAILED
    except Failed as exc:
        print(f"ucvctl: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `ucvctl status | head`
        return EXIT_OK


def run() -> None:
    """The program (its console script and the Debian launcher call this): `main()`, then
    exit without tearing the interpreter down. Freeing every module and object one by one
    took ucvctl longer than its call to the daemon; nothing of ours needs it, and the
    output is flushed first."""
    code = main()
    with contextlib.suppress(BrokenPipeError):  # `ucvctl status | head`: the reader is done
        sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
