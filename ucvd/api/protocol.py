"""Every control-socket method: its name, its parameters and its result, as msgspec Structs.

The daemon decodes `params` into these types (stage two of jsonrpc.py) and `ucvctl` decodes
results from them; one module, so the two can never disagree. It imports only msgspec, the
standard library and `ucvd.domain.model` (itself light), because `ucvctl status` must start fast.

Conventions: params forbid unknown fields (a typo is an error, not a silent default);
results carry no secret, only whether one is set (`has_password`); times are wall-clock
ISO 8601 strings in UTC, durations are seconds.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from ucvd.domain.model import DEFAULT_PATH_TEMPLATE, Camera, CameraOptions

# Bounds checked at the boundary, before anything reaches the store or FFmpeg.
Text = Annotated[str, msgspec.Meta(max_length=2048)]
Name = Annotated[str, msgspec.Meta(max_length=200)]
Secret = Annotated[str, msgspec.Meta(max_length=256)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=10_000)]

DesiredName = Literal["publishing", "stopped"]


class _Params(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


# --- params -------------------------------------------------------------------------------
class NoParams(_Params):
    pass


class CameraRef(_Params):
    id: Name


class CameraAdd(_Params):
    id: Name
    url: Text  # credentials in the URL are taken out and kept apart
    username: Name | None = None
    password: Secret | None = None
    name: Name = ""
    options: CameraOptions = CameraOptions()
    # This camera is the sub stream of the camera `main_id`, which must exist and not be
    # a sub stream itself.
    main_id: Name | None = None
    # Register this camera's sub stream with it, both or neither: the same credentials
    # (unless `sub_url` carries its own) and options, id `sub_id` or ID-sub.
    sub_url: Text | None = None
    sub_id: Name | None = None


class CameraUpdate(_Params):
    """Only the fields present change; `null` clears username or password."""

    id: Name
    url: Text | msgspec.UnsetType = msgspec.UNSET
    username: Name | msgspec.UnsetType | None = msgspec.UNSET
    password: Secret | msgspec.UnsetType | None = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET
    options: CameraOptions | msgspec.UnsetType = msgspec.UNSET


class TargetRef(_Params):
    name: Name


class SiteTarget(_Params):
    """A target's settings, as a site file gives them (its name is its key; secrets resolved
    by ucvctl) and as `target.add` takes them with a name."""

    rtsp_url: Text
    api_url: Text | None = None
    api_enabled: bool = True
    username: Name | None = None
    password: Secret | None = None
    api_username: Name | None = None
    api_password: Secret | None = None
    max_reconnects: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0
    reconnect_delay: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 1.0
    path_template: Name = DEFAULT_PATH_TEMPLATE
    # MediaMTX's web player (http://host:8889/), shown as a link; never read by the relay.
    player_url: Text | None = None
    tls_ca_file: Text | None = None  # rtsps://: a PEM file of the CA(s) to trust
    tls_fingerprint: Name | None = None  # rtsps://: SHA-256 of the server's certificate
    srt_passphrase: Secret | None = None  # srt://: SRT encryption passphrase


class TargetAdd(SiteTarget, kw_only=True):
    name: Name
    activate: bool = False  # the first target is activated whatever this says


class TargetUpdate(_Params):
    """Only the fields present change; `null` clears an optional one."""

    name: Name
    rtsp_url: Text | msgspec.UnsetType = msgspec.UNSET
    api_url: Text | msgspec.UnsetType | None = msgspec.UNSET
    api_enabled: bool | msgspec.UnsetType = msgspec.UNSET
    username: Name | msgspec.UnsetType | None = msgspec.UNSET
    password: Secret | msgspec.UnsetType | None = msgspec.UNSET
    api_username: Name | msgspec.UnsetType | None = msgspec.UNSET
    api_password: Secret | msgspec.UnsetType | None = msgspec.UNSET
    max_reconnects: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    reconnect_delay: Annotated[float, msgspec.Meta(gt=0, le=3600)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    path_template: Name | msgspec.UnsetType = msgspec.UNSET
    player_url: Text | msgspec.UnsetType | None = msgspec.UNSET
    tls_ca_file: Text | msgspec.UnsetType | None = msgspec.UNSET
    tls_fingerprint: Name | msgspec.UnsetType | None = msgspec.UNSET
    srt_passphrase: Secret | msgspec.UnsetType | None = msgspec.UNSET


class PublishStart(_Params):
    camera_id: Name
    force_restart: bool = False


class PublishRef(_Params):
    camera_id: Name


class StatusQuery(_Params):
    camera_id: Name | None = None


class HistoryQuery(_Params):
    camera_id: Name
    limit: Limit = 20


class LogsQuery(_Params):
    camera_id: Name
    lines: Limit = 50
    after: int = 0  # only lines with a greater `seq` (for following)


class Subscribe(_Params):
    camera_ids: Annotated[list[Name], msgspec.Meta(max_length=10_000)] | None = None


Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


class DiscoveryScan(_Params):
    """A scan when asked, never in the background. No `subnet`: no RTSP sweep, only
    WS-Discovery; no `interface`: the one on `subnet`, or the only one there is."""

    timeout: Annotated[float, msgspec.Meta(ge=0.5, le=120)] = 5.0  # the whole scan
    interface: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    subnet: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    ports: Annotated[list[Port], msgspec.Meta(max_length=64)] | None = None  # default 554, 8554
    force: bool = False  # allow subnets wider than a /22 (up to a /16)
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 256  # sweep connections
    username: Name | None = None  # ONVIF (and RTSP) credentials to try on every device
    password: Secret | None = None
    add_prefix: Name | None = None  # register new ONVIF cameras as PREFIX-1, PREFIX-2...


TokenKindName = Literal["operator", "viewer"]
TokenSecret = Annotated[str, msgspec.Meta(max_length=128)]


class TokenCreate(_Params):
    name: Name
    kind: TokenKindName = "operator"  # viewer: may only look (a wall display)


class TokenRef(_Params):
    name: Name


class TokenVerify(_Params):
    token: TokenSecret


class TokenAct(_Params):
    """Call `method` for the holder of `token` (ucvd-web, for a dashboard user): refused
    unless the token exists and its kind may call that method (DELEGABLE)."""

    token: TokenSecret
    method: Name
    params: msgspec.Raw = msgspec.Raw(b"{}")


class SamplesQuery(_Params):
    camera_id: Name | None = None  # None: every camera
    # At most an hour: a day of 100 cameras' samples is 144,000 rows, seconds of the store's
    # one thread that every write would wait behind.
    seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 600


class StillQuery(_Params):
    camera_id: Name


# --- results ------------------------------------------------------------------------------
class _Result(msgspec.Struct, kw_only=True):
    pass


class CameraView(_Result):
    id: str
    url: str
    username: str | None
    has_password: bool
    name: str
    options: CameraOptions
    desired: DesiredName
    main_id: str | None = None  # this camera is the sub stream of that one
    sub_ids: list[str] = msgspec.field(default_factory=list)  # this camera's sub streams


class CameraList(_Result):
    total: int
    items: list[CameraView]


class TargetView(_Result):
    name: str
    rtsp_url: str
    api_url: str | None
    api_enabled: bool
    username: str | None
    has_password: bool
    api_username: str | None
    has_api_password: bool
    max_reconnects: int
    reconnect_delay: float
    path_template: str
    active: bool
    player_url: str | None = None  # ends in "/": a camera's page is this + its path + "/"
    tls_ca_file: str | None = None
    tls_fingerprint: str | None = None  # lower-case hex, no colons
    has_srt_passphrase: bool = False


class TargetList(_Result):
    total: int
    items: list[TargetView]


class LastError(_Result):
    kind: str
    message: str
    at: str | None
    hint: str = ""  # what to check, one sentence (ucvd.domain.hints); "" when none is known


class Metrics(_Result):
    fps: float | None
    frames: int
    speed: float | None
    bitrate_kbps: float | None
    bytes: int
    tracks: list[str]
    readers: int
    since_progress_seconds: float | None


class AudioStatus(_Result):
    """What the running FFmpeg does with the camera's first audio track."""

    mode: str  # copy, drop or aac: what is done
    policy: str  # copy, drop or aac: what the camera's options ask
    codec: str | None  # the camera's audio codec as FFmpeg names it; None: none, or not seen yet
    reason: str | None  # why mode is not policy (ucvd chose it: the transport cannot carry it)
    summary: str  # "aac (auto: SRT cannot carry G.711 µ-law (pcm_mulaw))"


class PublicationStatus(_Result):
    camera_id: str
    status: str  # stopped, starting, publishing, reconnecting, stopping, failed
    desired: DesiredName
    publish_path: str | None  # None while no target is active
    target: str | None
    uptime_seconds: float | None
    error_count: int
    restarts: int
    last_error: LastError | None
    metrics: Metrics | None  # None unless FFmpeg is running
    pid: int | None
    retry_in_seconds: float | None
    # Reconnecting with no timer: the retry comes as soon as the target answers again.
    waiting_for_target: bool = False
    # ucvd.domain.quality: good, fair, poor (reconnects or stalls in the last hour), down
    # (asked to publish, not publishing), off (not asked to).
    quality: str = "off"
    reconnects_last_hour: int = 0
    stalls_last_hour: int = 0
    audio: AudioStatus | None = None  # None unless FFmpeg is running
    main_id: str | None = None  # this camera is the sub stream of that one
    # Failed attempts in a row, not yet forgiven by healthy publishing or an operator's start:
    # a camera "starting" with failures is retrying, and still dark.
    consecutive_failures: int = 0
    # MediaMTX dropped an attempt of this camera before its first picture, so its FFmpeg
    # now probes up to the keyframe: slower to the path, the picture with it. Until the
    # camera or its target changes, or the daemon restarts.
    probe_to_keyframe: bool = False


class StatusList(_Result):
    total: int
    active: int  # publications that are not stopped
    items: list[PublicationStatus]


class Counts(_Result):
    cameras: int
    targets: int
    publishing: int
    starting: int
    reconnecting: int
    failed: int
    desired_publishing: int  # cameras the operator asked to publish


class DaemonInfo(_Result):
    version: str
    pid: int
    uptime_seconds: float
    started_at: str
    ffmpeg_version: str
    ffmpeg_path: str
    active_target: str | None
    socket: str
    state_dir: str
    config_file: str | None
    counts: Counts
    # About the machine rather than the cameras: e.g. passwords other accounts can read.
    warnings: list[str] = msgspec.field(default_factory=list)


class CameraCounters(_Result):
    """A camera's lifetime counters: kept on disk, so a daemon restart does not reset them."""

    restarts: int
    errors: dict[str, int]  # by error kind


class TargetHealth(_Result):
    name: str
    active: bool
    # Does its RTSP port answer? None: unknown (ucvd watches only the active target).
    reachable: bool | None
    api_latency_seconds: float | None  # the last MediaMTX API call's round trip, if any


class MetricsSnapshot(_Result):
    """Everything a Prometheus scrape needs, in one call (ucvd-web's /metrics)."""

    version: str
    ffmpeg_version: str
    started_at: float  # Unix time
    counts: Counts
    cameras: list[PublicationStatus]
    counters: dict[str, CameraCounters]  # by camera id
    targets: list[TargetHealth]


class Health(_Result):
    healthy: bool  # false: something needs the operator
    problems: list[str]
    counts: Counts
    # Said, but not counted against `healthy`: no camera is dark because of them.
    warnings: list[str] = msgspec.field(default_factory=list)


class ReloadResult(_Result):
    changed: list[str]  # settings that differ from the running ones
    restarted: list[str]  # cameras restarted (or retried now) to apply them
    # Failed publications a restart-worthy change left failed: a reload never retries
    # what gave up (`publication.restart` does).
    left_failed: list[str] = msgspec.field(default_factory=list)


class VideoInfo(_Result):
    codec: str
    profile: str | None
    width: int | None
    height: int | None
    fps: float | None


class AudioInfo(_Result):
    codec: str
    sample_rate: int | None
    channels: int | None


class ProbeResult(_Result):
    camera_id: str
    video: VideoInfo | None
    audio: list[AudioInfo]
    seconds: float  # how long the probe took


class TargetCheck(_Result):
    name: str
    ok: bool
    rtsp_reachable: bool | None  # None: an srt:// target (UDP: no TCP connect can ask)
    api_reachable: bool | None  # None: the API is off for this target
    api_version: str | None
    api_auth_ok: bool | None
    problems: list[str]
    # rtsps:// targets: "trusted (what vouched for it)" or "refused"; None for others
    tls: str | None = None


class Session(_Result):
    camera_id: str
    target: str | None
    started_at: str
    ended_at: str | None  # None while it runs
    end_reason: str | None  # stopped, failed, daemon_stopped, interrupted, reconfigured
    error_kind: str | None
    error_message: str | None
    restarts: int
    frames: int
    bytes: int


class History(_Result):
    camera_id: str
    items: list[Session]  # newest first


class LogEntry(_Result):
    seq: int
    at: str
    text: str


class Logs(_Result):
    camera_id: str
    lines: list[LogEntry]
    last_seq: int


class DiscoveredStream(_Result):
    profile: str  # the ONVIF profile token
    name: str | None
    uri: str | None  # credentials redacted
    encoding: str | None  # as the device says it: H264, H265, JPEG...
    width: int | None
    height: int | None
    # DESCRIBE of the URI: open, needs_credentials, credentials_accepted,
    # credentials_refused, not_found, failed; None: not checked (another host, or timeout)
    rtsp_access: str | None
    registered_as: str | None  # the camera already registered with this stream URL


class DiscoveredRtsp(_Result):
    port: int
    access: str  # open (no credentials asked) | needs_credentials
    server: str | None


class DiscoveredDevice(_Result):
    address: str
    onvif: bool  # answered WS-Discovery
    endpoint: str | None  # its WS-Discovery endpoint id (urn:uuid:...)
    xaddrs: list[str]
    scope_name: str | None  # what the device's scopes call it
    manufacturer: str | None
    model: str | None
    firmware: str | None
    onvif_status: str | None  # ok, needs_credentials, auth_failed, unreachable, error
    onvif_error: str | None
    streams: list[DiscoveredStream]
    rtsp: list[DiscoveredRtsp]  # what the sweep found at this address
    registered: list[str]  # cameras already registered at this address


class AddedCamera(_Result):
    id: str
    address: str
    url: str
    main_id: str | None = None  # added as the sub stream of that camera


class DiscoveryResult(_Result):
    interface: str | None  # where WS-Discovery was sent; None: not sent
    interface_address: str | None
    subnet: str | None  # what was swept; None: no sweep
    ports: list[int]
    timeout: float
    seconds: float
    complete: bool  # false: the timeout cut part of the scan short
    probed: int  # address:port pairs the sweep tried
    devices: list[DiscoveredDevice]
    added: list[AddedCamera]
    notes: list[str]


class Subscribed(_Result):
    camera_ids: list[str] | None  # None: every camera


class Done(_Result):
    ok: bool = True


class TokenCreated(_Result):
    name: str
    kind: str
    token: str  # shown this once; the daemon keeps only its SHA-256
    created_at: str


class TokenView(_Result):
    name: str
    kind: str
    created_at: str


class TokenList(_Result):
    items: list[TokenView]


class TokenHolder(_Result):
    """Who a token belongs to (`token.verify`)."""

    name: str
    kind: str


class SamplePoint(_Result):
    at: float  # Unix time
    fps: float | None
    bitrate_kbps: float | None


class Samples(_Result):
    seconds: int
    cameras: dict[str, list[SamplePoint]]  # oldest first


class Still(_Result):
    camera_id: str
    source: Literal["central", "camera"]  # read from the central path, or the camera itself
    at: str  # when it was taken
    jpeg: bytes  # base64 in JSON


# --- notifications after events.subscribe ------------------------------------------------
STATUS_EVENT = "event.status"
METRICS_EVENT = "event.metrics"


class StatusEvent(_Result):
    camera_id: str
    old: str
    new: str
    error: LastError | None
    at: str
    # The camera's whole status right after the change, as `publishing.status` would answer
    # (retry countdown, restarts, quality...): a live view needs no second call.
    status: PublicationStatus | None = None


class MetricsEvent(_Result):
    camera_id: str
    metrics: Metrics
    uptime_seconds: float | None
    at: str


# --- configuration as code (`ucvctl apply`, `diff`) ---------------------------------------
class SiteCamera(_Params):
    url: Text
    username: Name | None = None
    password: Secret | None = None
    name: Name = ""
    options: CameraOptions = CameraOptions()
    publish: bool = False  # the desired state: publishing, or stopped
    main_id: Name | None = None  # this camera is the sub stream of that one

    def camera(self, camera_id: str) -> Camera:
        """The camera this entry describes (not yet validated)."""
        return Camera(
            id=camera_id,
            url=self.url,
            username=self.username,
            password=self.password,
            name=self.name,
            options=self.options,
            main_id=self.main_id,
        )


class SiteConfig(_Params):
    """A gateway's whole desired state."""

    active_target: Name | None = None  # None: the active target stays as it is
    targets: Annotated[dict[Name, SiteTarget], msgspec.Meta(max_length=1_000)] = {}
    cameras: Annotated[dict[Name, SiteCamera], msgspec.Meta(max_length=10_000)] = {}


class ConfigApply(_Params):
    desired: SiteConfig
    prune: bool = False  # remove the cameras and targets `desired` does not name
    dry_run: bool = False  # only the plan
    # The plan's fingerprint from a dry run: refused if the state changed since.
    expect: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class PlanChange(_Result):
    kind: Literal["add", "update", "remove", "activate", "start", "stop"]
    what: Literal["camera", "target"]
    name: str
    fields: list[str]  # of an update; a secret is named ("password"), never shown


class Plan(_Result):
    changes: list[PlanChange]  # empty: the state is already what was asked
    fingerprint: str  # of the state the plan was made against
    applied: bool
    restarted: list[str]  # running cameras restarted to take their new configuration


# --- the method table ---------------------------------------------------------------------
# What a read-only caller (the daemon's `read_only_users`, e.g. ucvd-web) may call: nothing
# that changes the daemon's state, starts a process, or sends anything to a camera or the
# network (probe, check and discovery do).
READ_ONLY_METHODS = frozenset({
    "daemon.info", "daemon.health", "daemon.metrics",
    "camera.list", "camera.get", "target.list", "target.get",
    "publishing.status", "publishing.history", "publishing.logs",
    "events.subscribe", "publishing.samples",
    # Both check the token they carry themselves: a read-only caller gets no more than
    # the token's holder may do.
    "token.verify", "token.act",
})  # fmt: skip

# What `token.act` may call, and the least token kind for each. A picture of what a camera
# shows is not for a read-only account alone (it is the video, not a status): it needs a
# user's token, of either kind.
DELEGABLE: dict[str, TokenKindName] = {
    "camera.still": "viewer",
    "camera.add": "operator",
    "publishing.start": "operator",
    "publishing.stop": "operator",
    "publishing.restart": "operator",
    "target.check": "operator",
    "target.activate": "operator",
    "discovery.scan": "operator",
}

# method name -> params type; the daemon implements exactly these. Results: the Struct named
# in the daemon's handler (`publishing.status` answers one PublicationStatus when given a
# camera_id, a StatusList otherwise).
PARAMS: dict[str, type[_Params]] = {
    "daemon.info": NoParams,
    "daemon.health": NoParams,
    "daemon.reload": NoParams,
    "daemon.metrics": NoParams,
    "camera.add": CameraAdd,
    "camera.update": CameraUpdate,
    "camera.remove": CameraRef,
    "camera.list": NoParams,
    "camera.get": CameraRef,
    "camera.probe": CameraRef,
    "target.add": TargetAdd,
    "target.update": TargetUpdate,
    "target.remove": TargetRef,
    "target.list": NoParams,
    "target.get": TargetRef,
    "target.activate": TargetRef,
    "target.check": TargetRef,
    "publishing.start": PublishStart,
    "publishing.stop": PublishRef,
    "publishing.restart": PublishRef,
    "publishing.status": StatusQuery,
    "publishing.history": HistoryQuery,
    "publishing.logs": LogsQuery,
    "events.subscribe": Subscribe,
    "discovery.scan": DiscoveryScan,
    "config.apply": ConfigApply,
    "publishing.samples": SamplesQuery,
    "camera.still": StillQuery,
    "token.create": TokenCreate,
    "token.list": NoParams,
    "token.revoke": TokenRef,
    "token.verify": TokenVerify,
    "token.act": TokenAct,
}
