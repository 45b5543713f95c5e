// The cameras' live state: loaded from /api/status (and /api/cameras, /api/samples), then
// changed by the WebSocket's events. A pure reducer: every change is an Action.

import type {
  CameraView,
  LiveEvent,
  MetricsEvent,
  PublicationStatus,
  Quality,
  Sample,
  SamplesResponse,
  StatusEvent,
} from '../api/types'
import type { LiveState } from '../api/live'
import { appendSample, mergeSamples, trimSamples } from './samples'
import type { CameraEntry } from './status'

export interface LiveModel {
  /** By camera id. */
  cameras: Record<string, CameraEntry>
  /** From /api/cameras: name and desired state of every registered camera. */
  views: Record<string, CameraView>
  samples: Record<string, Sample[]>
  /** /api/status was loaded at least once. */
  loaded: boolean
  /** false: ucvd-web said the daemon is down (event or a 502/503). */
  daemonUp: boolean
  /** Counts status events; a fetched status older than a camera's last event loses. */
  eventCounter: number
  /** Server clock minus local clock, in seconds (from the events' `at`). */
  clockOffset: number
  /** The WebSocket's state. */
  connection: LiveState
  /** Why the last /api/status failed (null: it did not). */
  loadError: string | null
}

export const initialModel: LiveModel = {
  cameras: {},
  views: {},
  samples: {},
  loaded: false,
  daemonUp: true,
  eventCounter: 0,
  clockOffset: 0,
  connection: 'connecting',
  loadError: null,
}

export type Action =
  /** The whole status list; `since`: eventCounter when its request left (cameras with a
   * later status event keep what the event said). */
  | { type: 'statusList'; items: PublicationStatus[]; since: number; now: number }
  /** One camera's status (a fetch, or an action's answer). */
  | { type: 'cameraStatus'; status: PublicationStatus; since: number; now: number }
  | { type: 'cameraViews'; items: CameraView[] }
  | { type: 'cameraView'; item: CameraView }
  | { type: 'samples'; data: SamplesResponse; now: number }
  | { type: 'event'; event: LiveEvent; now: number }
  | { type: 'daemonUp'; up: boolean }
  | { type: 'connection'; state: LiveState }
  | { type: 'loadError'; message: string | null }
  | { type: 'reset' }

export function serverNow(model: LiveModel, nowMs: number): number {
  return nowMs / 1000 + model.clockOffset
}

function entryOf(status: PublicationStatus, now: number, lastEvent: number): CameraEntry {
  return { status, statusAt: now, uptimeAt: now, lastEvent }
}

/** The rating rule of ucvd.domain.quality, for a status an event changed. */
export function ratedQuality(s: PublicationStatus): Quality {
  const publishing = s.status === 'publishing'
  if (!publishing && s.desired !== 'publishing') return 'off'
  if (!publishing) return 'down'
  const worst = Math.max(s.reconnects_last_hour, s.stalls_last_hour)
  if (worst >= 3) return 'poor'
  return worst > 0 ? 'fair' : 'good'
}

/** A status event without the whole status (an older daemon's) applied to what was known:
 * the new status and error; what it does not carry (retry timer, counters) is cleared or
 * kept until the camera is refetched. */
export function applyStatusEvent(prev: PublicationStatus, ev: StatusEvent): PublicationStatus {
  const next: PublicationStatus = { ...prev, status: ev.new }
  if (ev.error) next.last_error = ev.error
  if (ev.new === 'publishing') {
    if (prev.status !== 'publishing') next.uptime_seconds = 0
    next.retry_in_seconds = null
    next.waiting_for_target = false
  } else {
    next.uptime_seconds = null
  }
  if (ev.new === 'reconnecting') {
    if (prev.status === 'publishing') next.reconnects_last_hour = prev.reconnects_last_hour + 1
    next.retry_in_seconds = null // unknown until refetched
  }
  if (ev.new === 'stopped' || ev.new === 'failed') {
    next.metrics = null
    next.pid = null
    next.retry_in_seconds = null
    next.waiting_for_target = false
  }
  if (ev.new === 'stopped' && prev.status === 'stopping') next.desired = 'stopped'
  next.quality = ratedQuality(next)
  return next
}

/** The camera's whole status the event carries (null from an older daemon: the camera is
 * then refetched for what the event lacks). */
export function wholeStatus(ev: StatusEvent): PublicationStatus | null {
  return ev.status != null && ev.status.camera_id === ev.camera_id ? ev.status : null
}

function onStatusEvent(model: LiveModel, ev: StatusEvent, now: number): LiveModel {
  const counter = model.eventCounter + 1
  const entry = model.cameras[ev.camera_id]
  let status = wholeStatus(ev)
  if (status === null && entry) status = applyStatusEvent(entry.status, ev)
  if (status === null) return { ...model, eventCounter: counter } // new, and no status: refetched
  const next = entryOf(status, now, counter)
  return { ...model, eventCounter: counter, cameras: { ...model.cameras, [ev.camera_id]: next } }
}

function onMetricsEvent(model: LiveModel, ev: MetricsEvent, now: number): LiveModel {
  const parsed = Date.parse(ev.at)
  const at = Number.isNaN(parsed) ? serverNow(model, now) : parsed / 1000
  const clockOffset = Number.isNaN(parsed) ? model.clockOffset : at - now / 1000
  const sample: Sample = { at, fps: ev.metrics.fps, bitrate_kbps: ev.metrics.bitrate_kbps }
  const samples = {
    ...model.samples,
    [ev.camera_id]: appendSample(model.samples[ev.camera_id], sample, at),
  }
  const entry = model.cameras[ev.camera_id]
  if (!entry) return { ...model, samples, clockOffset }
  const status: PublicationStatus = {
    ...entry.status,
    metrics: ev.metrics,
    uptime_seconds: ev.uptime_seconds,
  }
  const cameras = { ...model.cameras, [ev.camera_id]: { ...entry, status, uptimeAt: now } }
  return { ...model, cameras, samples, clockOffset }
}

export function reduce(model: LiveModel, action: Action): LiveModel {
  switch (action.type) {
    case 'statusList': {
      const cameras: Record<string, CameraEntry> = {}
      for (const s of action.items) {
        const mine = model.cameras[s.camera_id]
        cameras[s.camera_id] =
          mine && mine.lastEvent > action.since ? mine : entryOf(s, action.now, mine?.lastEvent ?? 0)
      }
      // A camera an event brought after the list was asked for is newer than the list.
      for (const [id, mine] of Object.entries(model.cameras)) {
        if (!(id in cameras) && mine.lastEvent > action.since) cameras[id] = mine
      }
      return { ...model, cameras, loaded: true, daemonUp: true, loadError: null }
    }
    case 'cameraStatus': {
      const s = action.status
      const mine = model.cameras[s.camera_id]
      if (mine && mine.lastEvent > action.since) return model
      const entry = entryOf(s, action.now, mine?.lastEvent ?? 0)
      return { ...model, cameras: { ...model.cameras, [s.camera_id]: entry } }
    }
    case 'cameraViews': {
      const views: Record<string, CameraView> = {}
      for (const v of action.items) views[v.id] = v
      return { ...model, views }
    }
    case 'cameraView':
      return { ...model, views: { ...model.views, [action.item.id]: action.item } }
    case 'samples': {
      const nowSec = serverNow(model, action.now)
      const samples: Record<string, Sample[]> = {}
      for (const [id, stored] of Object.entries(action.data.cameras)) {
        samples[id] = mergeSamples(stored, model.samples[id], nowSec)
      }
      for (const [id, live] of Object.entries(model.samples)) {
        if (!(id in samples)) samples[id] = trimSamples(live, nowSec)
      }
      return { ...model, samples }
    }
    case 'event': {
      const ev = action.event
      if (ev.type === 'status') return onStatusEvent(model, ev, action.now)
      if (ev.type === 'metrics') return onMetricsEvent(model, ev, action.now)
      return model.daemonUp === ev.up ? model : { ...model, daemonUp: ev.up }
    }
    case 'daemonUp':
      return model.daemonUp === action.up ? model : { ...model, daemonUp: action.up }
    case 'connection':
      return model.connection === action.state ? model : { ...model, connection: action.state }
    case 'loadError':
      return { ...model, loadError: action.message }
    case 'reset':
      return initialModel
  }
}
