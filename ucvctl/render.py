"""Human output: aligned tables, status words, durations like `3m12s`, errors in words."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from ucvd.api import protocol as p


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def ago(at: str | None, now: datetime.datetime | None = None) -> str:
    """'3m12s ago' from an ISO timestamp; '-' when there is none."""
    if not at:
        return "-"
    try:
        moment = datetime.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at
    now = now or datetime.datetime.now(tz=datetime.UTC)
    return f"{duration(max(0.0, (now - moment).total_seconds()))} ago"


def local_time(at: str | None) -> str:
    if not at:
        return "-"
    try:
        moment = datetime.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is never padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [c.ljust(widths[i]) for i, c in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def error_words(error: p.LastError | None, *, width: int = 60) -> str:
    if error is None:
        return "-"
    text = f"{error.kind}: {error.message}"
    return text if len(text) <= width else text[: width - 1] + "…"


def fps(metrics: p.Metrics | None) -> str:
    return "-" if metrics is None or metrics.fps is None else f"{metrics.fps:.1f}"


def bitrate(metrics: p.Metrics | None) -> str:
    if metrics is None or metrics.bitrate_kbps is None:
        return "-"
    kbps = metrics.bitrate_kbps
    return f"{kbps / 1000:.1f} Mb/s" if kbps >= 1000 else f"{kbps:.0f} kb/s"


def status_table(result: p.StatusList) -> str:
    rows = [
        [
            s.camera_id + (f" (sub of {s.main_id})" if s.main_id else ""),
            s.status,
            s.quality,
            duration(s.uptime_seconds),
            fps(s.metrics),
            bitrate(s.metrics),
            str(s.restarts),
            str(s.error_count),
            error_words(s.last_error),
        ]
        for s in result.items
    ]
    head = [
        "CAMERA", "STATUS", "QUALITY", "UPTIME", "FPS", "BITRATE", "RESTARTS", "ERRORS",
        "LAST ERROR",
    ]  # fmt: skip
    summary = f"{result.active} of {result.total} cameras active"
    return (table(head, rows) + "\n" + summary) if rows else "no cameras (ucvctl camera add)"


def status_detail(s: p.PublicationStatus) -> str:
    pairs = [
        ("camera", s.camera_id + (f" (sub stream of {s.main_id})" if s.main_id else "")),
        ("status", s.status + ("" if s.desired == "publishing" else " (desired: stopped)")),
        ("target", s.target or "- (no active target)"),
        ("path", s.publish_path or "-"),
        ("quality", _quality_words(s)),
        ("uptime", duration(s.uptime_seconds)),
        ("restarts", str(s.restarts)),
        ("errors", str(s.error_count)),
        ("pid", str(s.pid) if s.pid else "-"),
    ]
    if s.audio is not None:
        codec = f", camera sends {s.audio.codec}" if s.audio.codec else ""
        pairs.append(("audio", s.audio.summary + codec))
    if s.probe_to_keyframe:
        pairs.append(("probe", "up to the keyframe (MediaMTX dropped an attempt before its "
                               "first picture: its keyframes may come later than its "
                               "readTimeout)"))  # fmt: skip
    if s.retry_in_seconds is not None:
        pairs.append(("next retry", f"within {s.retry_in_seconds:.1f}s"))
    elif s.waiting_for_target:
        pairs.append(("next retry", f"as soon as {s.target or 'the target'} answers again"))
    if s.last_error is not None:
        e = s.last_error
        pairs.append(("last error", f"{e.kind}: {e.message} ({ago(e.at)})"))
        if e.hint:
            pairs.append(("hint", e.hint))
    m = s.metrics
    if (
        m is not None
        and s.status == "publishing"
        and m.since_progress_seconds is not None  # a progress block was read: frames is known
        and m.frames == 0
    ):
        # The central has the path but no picture: stream copy starts at a keyframe, and
        # ucvd's probe usually ends before it (README, "Where the time to live goes").
        pairs.append(("picture", "none yet: waiting for the camera's first keyframe"))
    if m is not None:
        pairs += [
            ("fps", fps(m)),
            ("bitrate", bitrate(m)),
            ("frames", str(m.frames)),
            ("received", size(m.bytes)),
            ("tracks", ", ".join(m.tracks) or "-"),
            ("readers", str(m.readers)),
        ]
    return pairs_text(pairs)


def _quality_words(s: p.PublicationStatus) -> str:
    recent = f"{s.reconnects_last_hour} reconnects, {s.stalls_last_hour} stalls in the last hour"
    return f"{s.quality} ({recent})"


def pairs_text(pairs: Sequence[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in pairs)


def camera_table(result: p.CameraList) -> str:
    rows = [
        [
            c.id,
            c.desired,
            c.url,
            (c.username or "-") + (" (password set)" if c.has_password else ""),
            _link_words(c),
            c.name or "-",
        ]
        for c in result.items
    ]
    if not rows:
        return "no cameras (ucvctl camera add ID --url rtsp://...)"
    return table(["CAMERA", "DESIRED", "URL", "USER", "LINK", "NAME"], rows)


def _link_words(c: p.CameraView) -> str:
    """How a camera is tied to another: a main's sub streams, or the main a sub belongs to."""
    if c.main_id is not None:
        return f"sub of {c.main_id}"
    if c.sub_ids:
        return "sub: " + ", ".join(c.sub_ids)
    return "-"


def camera_detail(c: p.CameraView) -> str:
    o = c.options
    return pairs_text(
        [
            ("camera", c.id),
            *([("sub stream of", c.main_id)] if c.main_id else []),
            *([("sub stream", ", ".join(c.sub_ids))] if c.sub_ids else []),
            ("name", c.name or "-"),
            ("url", c.url),
            ("username", c.username or "-"),
            ("password", "set" if c.has_password else "not set"),
            ("desired", c.desired),
            ("transport", str(o.transport)),
            ("audio", str(o.audio)),
            (
                "timestamps",
                ", ".join(
                    name
                    for name, on in (
                        ("genpts", o.genpts),
                        ("wallclock", o.wallclock_timestamps),
                        ("avoid-negative", o.avoid_negative_ts),
                    )
                    if on
                )
                or "as sent",
            ),
            ("max reconnects", "target's" if o.max_reconnects is None else str(o.max_reconnects)),
        ]
    )


def target_table(result: p.TargetList) -> str:
    rows = [
        [
            ("* " if t.active else "  ") + t.name,
            t.rtsp_url,
            (t.api_url or "-") if t.api_enabled else "off",
            t.username or "-",
            t.path_template,
        ]
        for t in result.items
    ]
    if not rows:
        return "no targets (ucvctl target add NAME --url rtsp://host:8554)"
    return table(["  TARGET", "RTSP", "API", "USER", "PATHS"], rows)


def target_detail(t: p.TargetView) -> str:
    return pairs_text(
        [
            ("target", t.name + (" (active)" if t.active else "")),
            ("rtsp url", t.rtsp_url),
            ("api url", (t.api_url or "-") if t.api_enabled else "off"),
            ("username", t.username or "-"),
            ("password", "set" if t.has_password else "not set"),
            ("api username", t.api_username or "(the publish one)"),
            ("api password", "set" if t.has_api_password else "not set"),
            ("max reconnects", "never give up" if t.max_reconnects == 0 else str(t.max_reconnects)),
            ("reconnect delay", f"{t.reconnect_delay:g}s, doubling"),
            ("path template", t.path_template),
            ("player url", _player_words(t)),
            *_transport_rows(t),
        ]
    )


def _transport_rows(t: p.TargetView) -> list[tuple[str, str]]:
    scheme = t.rtsp_url.split(":", 1)[0].lower()
    if scheme == "rtsps":
        if t.tls_fingerprint:
            trust = f"exactly the certificate with SHA-256 {t.tls_fingerprint}"
        elif t.tls_ca_file:
            trust = f"certificates signed by {t.tls_ca_file}, for this host name"
        else:
            trust = "the system's CAs, for this host name"
        return [("tls trusts", trust)]
    if scheme == "srt":
        return [("srt passphrase", "set" if t.has_srt_passphrase else "not set (unencrypted)")]
    return []


def _player_words(t: p.TargetView) -> str:
    if t.player_url is None:
        return "-"
    from ucvd.domain.urls import player_page  # urllib and ipaddress: not for `ucvctl status`

    return f"{t.player_url} (a camera's page: {player_page(t.player_url, t.path_template)})"


def history_table(result: p.History) -> str:
    rows = [
        [
            local_time(s.started_at),
            local_time(s.ended_at) if s.ended_at else "(running)",
            s.end_reason or "-",
            s.error_kind or "-",
            str(s.restarts),
            str(s.frames),
            size(s.bytes),
            s.target or "-",
        ]
        for s in result.items
    ]
    if not rows:
        return f"no sessions yet for {result.camera_id}"
    head = ["STARTED", "ENDED", "REASON", "ERROR", "RESTARTS", "FRAMES", "BYTES", "TARGET"]
    return table(head, rows)


def info_text(i: p.DaemonInfo) -> str:
    c = i.counts
    return pairs_text(
        [
            ("ucvd", f"{i.version} (pid {i.pid}, up {duration(i.uptime_seconds)})"),
            ("ffmpeg", f"{i.ffmpeg_version} ({i.ffmpeg_path})"),
            ("target", i.active_target or "- (none active)"),
            ("cameras", _camera_counts(c)),
            ("targets", str(c.targets)),
            ("socket", i.socket),
            ("state", i.state_dir),
            ("config", i.config_file or "(default location)"),
            *(("warning", text) for text in i.warnings),
        ]
    )


def _camera_counts(c: p.Counts) -> str:
    return (
        f"{c.cameras} ({c.publishing} publishing, {c.starting} starting, "
        f"{c.reconnecting} reconnecting, {c.failed} failed)"
    )


def probe_text(r: p.ProbeResult) -> str:
    pairs = [("camera", r.camera_id)]
    v = r.video
    if v is None:
        pairs.append(("video", "none"))
    else:
        dims = f"{v.width}x{v.height}" if v.width and v.height else "size unknown"
        rate = f"{v.fps:g} fps" if v.fps else "fps unknown"
        profile = f" ({v.profile})" if v.profile else ""
        pairs.append(("video", f"{v.codec}{profile}, {dims}, {rate}"))
    if not r.audio:
        pairs.append(("audio", "none"))
    for a in r.audio:
        rate = f"{a.sample_rate} Hz" if a.sample_rate else "rate unknown"
        pairs.append(("audio", f"{a.codec}, {rate}, {a.channels or '?'} ch"))
    pairs.append(("probe took", f"{r.seconds:.1f}s"))
    return pairs_text(pairs)


def check_text(c: p.TargetCheck) -> str:
    def yn(value: bool | None) -> str:
        return "n/a" if value is None else ("yes" if value else "NO")

    pairs = [
        ("target", c.name),
        ("result", "ok" if c.ok else "PROBLEMS"),
        ("rtsp reachable", yn(c.rtsp_reachable) if c.rtsp_reachable is not None else "n/a (SRT)"),
        *([("tls certificate", c.tls)] if c.tls else []),
        ("api reachable", yn(c.api_reachable)),
        ("api version", c.api_version or "-"),
        ("api auth", yn(c.api_auth_ok)),
    ]
    pairs += [("problem", text) for text in c.problems]
    return pairs_text(pairs)


def _device_words(d: p.DiscoveredDevice) -> str:
    words = " ".join(x for x in (d.manufacturer, d.model) if x) or d.scope_name or ""
    if d.firmware:
        words += f" (fw {d.firmware})"
    return words or "-"


def _onvif_words(d: p.DiscoveredDevice) -> str:
    if not d.onvif:
        return "-"
    return d.onvif_status or "found"


def _stream_words(s: p.DiscoveredStream) -> str:
    size_text = f"{s.width}x{s.height}" if s.width and s.height else ""
    access = f"({s.rtsp_access.replace('_', ' ')})" if s.rtsp_access else ""
    parts = [s.name or s.profile, s.encoding or "", size_text, s.uri or "(no stream URI)", access]
    if s.registered_as:
        parts.append(f"[registered: {s.registered_as}]")
    return "  ".join(x for x in parts if x)


def discovery_table(r: p.DiscoveryResult) -> str:
    """One line per device, then one indented line per ONVIF profile and its stream."""
    rows: list[list[str]] = []
    for d in r.devices:
        rtsp = ", ".join(f"{s.port} {s.access.replace('_', ' ')}" for s in d.rtsp) or "-"
        rows.append(
            [d.address, _device_words(d), _onvif_words(d), rtsp, ", ".join(d.registered) or "-"]
        )
    lines = []
    if rows:
        head = ["ADDRESS", "DEVICE", "ONVIF", "RTSP", "REGISTERED"]
        table_lines = table(head, rows).split("\n")
        lines.append(table_lines[0])
        for device, line in zip(r.devices, table_lines[1:], strict=True):
            lines.append(line)
            if device.onvif_error:
                lines.append(f"    {device.onvif_error}")
            lines += [f"    {_stream_words(s)}" for s in device.streams]
    else:
        lines.append("no cameras found")
    onvif = sum(1 for d in r.devices if d.onvif)
    done = "" if r.complete else " (cut short by the timeout)"
    lines.append(f"{len(r.devices)} found ({onvif} ONVIF) in {r.seconds:.1f}s{done}")
    if r.interface:
        lines.append(f"WS-Discovery on {r.interface} ({r.interface_address})")
    if r.subnet:
        ports = ", ".join(str(x) for x in r.ports)
        lines.append(f"swept {r.subnet} on ports {ports} ({r.probed} probes)")
    lines += [
        f"added {a.id}: {a.url} ({a.address}"
        + (f", sub stream of {a.main_id})" if a.main_id else ")")
        for a in r.added
    ]
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)
