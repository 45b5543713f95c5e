// What a publication's status means on screen: its colour class, its words, what ticks.

import type { PublicationStatus, Quality, StatusName } from '../api/types'
import { formatCountdown } from './format'

export const STATUSES: StatusName[] = [
  'publishing',
  'starting',
  'reconnecting',
  'stopping',
  'failed',
  'stopped',
]

/** The colour family (a CSS class suffix): green, blue, amber, red, grey. */
export type Tone = 'ok' | 'busy' | 'warn' | 'bad' | 'off'

export function statusTone(status: string): Tone {
  switch (status) {
    case 'publishing':
      return 'ok'
    case 'starting':
    case 'stopping':
      return 'busy'
    case 'reconnecting':
      return 'warn'
    case 'failed':
      return 'bad'
    default:
      return 'off'
  }
}

export function qualityTone(quality: Quality | string): Tone {
  switch (quality) {
    case 'good':
      return 'ok'
    case 'fair':
      return 'warn'
    case 'poor':
    case 'down':
      return 'bad'
    default:
      return 'off'
  }
}

/** Sort rank for "problems first": dark and failing cameras on top. */
export function severity(s: PublicationStatus): number {
  switch (s.status) {
    case 'failed':
      return 0
    case 'reconnecting':
      return 1
    case 'starting':
    case 'stopping':
      return 3
    case 'publishing':
      return s.quality === 'poor' ? 2 : s.quality === 'fair' ? 4 : 5
    case 'stopped':
      return s.desired === 'publishing' ? 1 : 6
    default:
      return 6
  }
}

/** A camera's status as last received, and when (local ms), so that clocks tick locally. */
export interface CameraEntry {
  status: PublicationStatus
  /** When retry_in_seconds was true (local Date.now()). */
  statusAt: number
  /** When uptime_seconds was true. */
  uptimeAt: number
  /** LiveModel.eventCounter at this camera's last status event (0: none). */
  lastEvent: number
}

/** The uptime now, counting on from the last report; null unless publishing. */
export function currentUptime(entry: CameraEntry, nowMs: number): number | null {
  const s = entry.status
  if (s.status !== 'publishing' || s.uptime_seconds == null) return null
  return s.uptime_seconds + Math.max(0, nowMs - entry.uptimeAt) / 1000
}

/** Seconds until the next retry, counting down from the last report; null when none. */
export function currentRetry(entry: CameraEntry, nowMs: number): number | null {
  const s = entry.status
  if (s.status !== 'reconnecting' || s.retry_in_seconds == null) return null
  return Math.max(0, s.retry_in_seconds - Math.max(0, nowMs - entry.statusAt) / 1000)
}

/** The central has the path and FFmpeg has reported progress, but no picture has left:
 * the camera's first keyframe has not come yet. */
export function awaitingPicture(s: PublicationStatus): boolean {
  const m = s.metrics
  return s.status === 'publishing' && m != null && m.since_progress_seconds != null && m.frames === 0
}

/** What the status column says after the status word: "waiting for target",
 * "retry in 5 s", "retrying…", "asked to publish", "no target", "no picture yet", or "" */
export function statusDetail(entry: CameraEntry, nowMs: number): string {
  const s = entry.status
  if (s.status === 'reconnecting') {
    if (s.waiting_for_target) return 'waiting for target'
    const left = currentRetry(entry, nowMs)
    if (left == null) return ''
    return left > 0 ? `retry in ${formatCountdown(left)}` : 'retrying…'
  }
  if (s.status === 'stopped' && s.desired === 'publishing') return 'asked to publish'
  if (s.status === 'publishing' && s.publish_path == null) return 'no target'
  if (awaitingPicture(s)) return 'no picture yet'
  return ''
}

export type Availability = Record<'start' | 'stop' | 'restart', boolean>

/** Which actions make sense now (the daemon has the last word). */
export function availableActions(s: PublicationStatus): Availability {
  const idle = s.status === 'stopped' || s.status === 'failed'
  return {
    start: idle || s.desired === 'stopped',
    stop: s.status !== 'stopped' || s.desired === 'publishing',
    restart: s.status !== 'stopped',
  }
}

export interface Summary {
  publishing: number
  starting: number
  reconnecting: number
  failed: number
  stopped: number
  total: number
}

export function summarize(statuses: Iterable<PublicationStatus>): Summary {
  const sum: Summary = { publishing: 0, starting: 0, reconnecting: 0, failed: 0, stopped: 0, total: 0 }
  for (const s of statuses) {
    sum.total += 1
    if (s.status === 'publishing') sum.publishing += 1
    else if (s.status === 'starting' || s.status === 'stopping') sum.starting += 1
    else if (s.status === 'reconnecting') sum.reconnecting += 1
    else if (s.status === 'failed') sum.failed += 1
    else sum.stopped += 1
  }
  return sum
}
