// The JSON ucvd-web answers. Field names are exactly those of the msgspec Structs in
// ucvd/api/protocol.py (and CameraOptions in ucvd/domain/model.py); times are ISO 8601
// strings in UTC, durations are seconds. Additions from the dashboard's API contract are
// marked "contract".

export type DesiredName = 'publishing' | 'stopped'

/** PublicationStatus.status (the wire type is str: an unknown value is shown as is). */
export type StatusName = 'stopped' | 'starting' | 'publishing' | 'reconnecting' | 'stopping' | 'failed'

/** ucvd.domain.quality */
export type Quality = 'good' | 'fair' | 'poor' | 'down' | 'off'

export interface CameraOptions {
  audio: boolean
  transport: 'tcp' | 'udp'
  genpts: boolean
  wallclock_timestamps: boolean
  avoid_negative_ts: boolean
  max_reconnects: number | null
}

export interface CameraView {
  id: string
  url: string // redacted
  username: string | null
  has_password: boolean
  name: string
  options: CameraOptions
  desired: DesiredName
  /** this camera is the sub stream of that one (absent from older daemons) */
  main_id?: string | null
  /** this camera's sub streams */
  sub_ids?: string[]
}

export interface CameraList {
  total: number
  items: CameraView[]
}

export interface TargetView {
  name: string
  rtsp_url: string // redacted
  api_url: string | null
  api_enabled: boolean
  username: string | null
  has_password: boolean
  api_username: string | null
  has_api_password: boolean
  max_reconnects: number
  reconnect_delay: number
  path_template: string
  active: boolean
  /** contract: the central MediaMTX's web player, e.g. "http://central:8889/" */
  player_url: string | null
}

export interface TargetList {
  total: number
  items: TargetView[]
}

export interface LastError {
  kind: string
  message: string
  at: string | null
  /** contract: one sentence, what to check; may be "" */
  hint: string
}

export interface Metrics {
  fps: number | null
  frames: number
  speed: number | null
  bitrate_kbps: number | null
  bytes: number
  tracks: string[]
  readers: number
  since_progress_seconds: number | null
}

export interface PublicationStatus {
  camera_id: string
  status: StatusName
  desired: DesiredName
  publish_path: string | null // null while no target is active
  target: string | null
  uptime_seconds: number | null
  error_count: number
  restarts: number
  last_error: LastError | null
  metrics: Metrics | null // null unless FFmpeg is running
  pid: number | null
  retry_in_seconds: number | null
  waiting_for_target: boolean
  quality: Quality
  reconnects_last_hour: number
  stalls_last_hour: number
  /** this camera is the sub stream of that one */
  main_id?: string | null
  /** failed attempts in a row, not yet forgiven: "starting" with failures is a retry */
  consecutive_failures?: number
  /** how the running FFmpeg handles audio; null unless it runs */
  audio?: AudioStatus | null
  /** MediaMTX dropped an attempt before its first picture: FFmpeg probes up to the keyframe */
  probe_to_keyframe?: boolean
}

export interface AudioStatus {
  mode: 'copy' | 'drop' | 'aac' // what FFmpeg does now
  policy: 'copy' | 'drop' | 'aac' // what the camera asks for
  codec: string | null // the camera's audio codec, once FFmpeg has described it
  reason: string | null // why mode differs from policy
  summary: string // e.g. "aac (auto: SRT cannot carry G.711 µ-law (pcm_mulaw))"
}

export interface StatusList {
  total: number
  active: number
  items: PublicationStatus[]
}

export interface Counts {
  cameras: number
  targets: number
  publishing: number
  starting: number
  reconnecting: number
  failed: number
  desired_publishing: number
}

export interface DaemonInfo {
  version: string
  pid: number
  uptime_seconds: number
  started_at: string
  ffmpeg_version: string
  ffmpeg_path: string
  active_target: string | null
  socket: string
  state_dir: string
  config_file: string | null
  counts: Counts
  warnings: string[]
}

export interface TargetCheck {
  name: string
  ok: boolean
  rtsp_reachable: boolean | null // null: an SRT target (UDP answers no probe)
  api_reachable: boolean | null // null: the API is off for this target
  api_version: string | null
  api_auth_ok: boolean | null
  problems: string[]
  /** rtsps:// targets: "trusted (...)" or "refused" */
  tls?: string | null
}

export interface Session {
  camera_id: string
  target: string | null
  started_at: string
  ended_at: string | null // null while it runs
  end_reason: string | null // stopped, failed, daemon_stopped, interrupted, reconfigured
  error_kind: string | null
  error_message: string | null
  restarts: number
  frames: number
  bytes: number
}

export interface History {
  camera_id: string
  items: Session[] // newest first
}

export interface LogEntry {
  seq: number
  at: string
  text: string
}

export interface Logs {
  camera_id: string
  lines: LogEntry[] // oldest first
  last_seq: number
}

export type RtspAccess =
  | 'open'
  | 'needs_credentials'
  | 'credentials_accepted'
  | 'credentials_refused'
  | 'not_found'
  | 'failed'

export interface DiscoveredStream {
  profile: string
  name: string | null
  uri: string | null // credentials redacted
  encoding: string | null
  width: number | null
  height: number | null
  rtsp_access: RtspAccess | null // null: not checked
  registered_as: string | null
}

export interface DiscoveredRtsp {
  port: number
  access: 'open' | 'needs_credentials'
  server: string | null
}

export interface DiscoveredDevice {
  address: string
  onvif: boolean
  endpoint: string | null
  xaddrs: string[]
  scope_name: string | null
  manufacturer: string | null
  model: string | null
  firmware: string | null
  onvif_status: 'ok' | 'needs_credentials' | 'auth_failed' | 'unreachable' | 'error' | null
  onvif_error: string | null
  streams: DiscoveredStream[]
  rtsp: DiscoveredRtsp[]
  registered: string[]
}

export interface AddedCamera {
  id: string
  address: string
  url: string
  /** added as the sub stream of that camera */
  main_id?: string | null
}

export interface DiscoveryResult {
  interface: string | null
  interface_address: string | null
  subnet: string | null
  ports: number[]
  timeout: number
  seconds: number
  complete: boolean
  probed: number
  devices: DiscoveredDevice[]
  added: AddedCamera[]
  notes: string[]
}

export interface StatusEvent {
  camera_id: string
  old: StatusName
  new: StatusName
  error: LastError | null
  at: string
  /** The camera's whole status right after the change; null (or absent) from an older
   * daemon, whose events then need a refetch for the retry timer and counters. */
  status?: PublicationStatus | null
}

export interface MetricsEvent {
  camera_id: string
  metrics: Metrics
  uptime_seconds: number | null
  at: string
}

// --- ucvd-web's own shapes (the dashboard API contract) ---------------------------------

export type TokenKind = 'operator' | 'viewer'

/** POST /api/session, GET /api/me */
export interface Me {
  name: string
  kind: TokenKind
}

/** GET /api/cameras/{id} */
export interface CameraDetail {
  camera: CameraView
  status: PublicationStatus
}

export interface Sample {
  at: number // Unix seconds
  fps: number | null
  bitrate_kbps: number | null
}

/** GET /api/samples?seconds=N */
export interface SamplesResponse {
  seconds: number
  cameras: Record<string, Sample[]> // oldest first
}

/** POST /api/cameras */
export interface CameraAddBody {
  id: string
  url: string
  username?: string
  password?: string
  name?: string
}

/** POST /api/discovery/scan */
export interface ScanBody {
  subnet?: string
  timeout?: number
  username?: string
  password?: string
}

/** Any non-2xx answer. */
export interface ErrorBody {
  error: { kind: string; message: string }
}

/** WebSocket /api/events frames (server -> client). */
export type LiveEvent =
  | ({ type: 'status' } & StatusEvent)
  | ({ type: 'metrics' } & MetricsEvent)
  | { type: 'daemon'; up: boolean }
