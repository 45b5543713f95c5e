// Human units, one way everywhere: "1.2 Mb/s", "3h 12m", "12 s ago".

export const DASH = '—'

function oneDecimal(v: number): string {
  // 9.96 -> "10", 1.24 -> "1.2": one decimal below 10, none above.
  const r = v < 9.95 ? Math.round(v * 10) / 10 : Math.round(v)
  return r < 10 && !Number.isInteger(r) ? r.toFixed(1) : String(r)
}

/** A bit rate given in kb/s (FFmpeg's unit). */
export function formatBitrate(kbps: number | null | undefined): string {
  if (kbps == null || !Number.isFinite(kbps) || kbps < 0) return DASH
  if (kbps < 1000) return `${Math.round(kbps)} kb/s`
  if (kbps < 999_500) return `${oneDecimal(kbps / 1000)} Mb/s`
  return `${oneDecimal(kbps / 1_000_000)} Gb/s`
}

/** Bytes, decimal units (as FFmpeg and network people count). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes == null || !Number.isFinite(bytes) || bytes < 0) return DASH
  if (bytes < 1000) return `${Math.round(bytes)} B`
  const units = ['kB', 'MB', 'GB', 'TB', 'PB']
  let v = bytes / 1000
  let i = 0
  while (v >= 999.5 && i < units.length - 1) {
    v /= 1000
    i += 1
  }
  return `${oneDecimal(v)} ${units[i]}`
}

/** Frames per second: one decimal ("25.0", "7.5"). */
export function formatFps(fps: number | null | undefined): string {
  if (fps == null || !Number.isFinite(fps) || fps < 0) return DASH
  return fps.toFixed(1)
}

/** A duration in the two largest units: "45s", "12m 5s", "3h 12m", "2d 3h". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return DASH
  const s = Math.max(0, Math.floor(seconds))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h}h ${m % 60}m`
  const d = Math.floor(h / 24)
  return `${d}d ${h % 24}h`
}

/** How long ago an ISO time was: "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function formatAgo(iso: string | null | undefined, nowMs: number): string {
  if (!iso) return DASH
  const at = Date.parse(iso)
  if (Number.isNaN(at)) return DASH
  const s = Math.floor((nowMs - at) / 1000)
  if (s < 1) return 'just now'
  if (s < 60) return `${s} s ago`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ago`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h} h ago`
  return `${Math.floor(h / 24)} d ago`
}

/** Seconds left on a countdown, whole and rounded up: 4.2 -> "5 s". */
export function formatCountdown(seconds: number): string {
  return `${Math.max(0, Math.ceil(seconds))} s`
}

const pad = (n: number) => String(n).padStart(2, '0')

/** Local time "2025-01-31 14:05:09" (the wall display's own clock and zone). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return DASH
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return DASH
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  )
}

/** Local clock time only: "14:05:09". */
export function formatClock(iso: string | null | undefined): string {
  const t = formatTime(iso)
  return t === DASH ? t : t.slice(11)
}

const countFormat = new Intl.NumberFormat('en-US')

/** An integer with thousands separators: "1,234,567". */
export function formatCount(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return DASH
  return countFormat.format(Math.round(n))
}

/** The seconds between two ISO times (end null: until now). */
export function secondsBetween(startIso: string, endIso: string | null, nowMs: number): number | null {
  const a = Date.parse(startIso)
  const b = endIso === null ? nowMs : Date.parse(endIso)
  if (Number.isNaN(a) || Number.isNaN(b)) return null
  return Math.max(0, (b - a) / 1000)
}
