// @vitest-environment node
import { describe, expect, it } from 'vitest'
import type { LiveEvent } from '../api/types'
import { lastError, metrics, status } from '../test/fixtures'
import { applyStatusEvent, initialModel, type LiveModel, reduce } from './live'

const T0 = Date.parse('2025-01-01T12:00:00Z')

function loaded(...ids: string[]): LiveModel {
  return reduce(initialModel, { type: 'statusList', items: ids.map((id) => status(id)), since: 0, now: T0 })
}

const ev = (e: LiveEvent, now = T0 + 1000) => ({ type: 'event' as const, event: e, now })

describe('the live reducer', () => {
  it('loads the status list', () => {
    const m = loaded('cam-1', 'cam-2')
    expect(Object.keys(m.cameras)).toEqual(['cam-1', 'cam-2'])
    expect(m.loaded).toBe(true)
    expect(m.cameras['cam-1']!.statusAt).toBe(T0)
  })

  it('a status event changes the status and the last error', () => {
    const err = lastError({ kind: 'mediamtx_unreachable', message: 'central down' })
    const m = reduce(
      loaded('cam-1', 'cam-2'),
      ev({ type: 'status', camera_id: 'cam-1', old: 'publishing', new: 'reconnecting', error: err, at: '2025-01-01T12:00:01Z' }),
    )
    const s = m.cameras['cam-1']!.status
    expect(s.status).toBe('reconnecting')
    expect(s.last_error).toEqual(err)
    expect(s.uptime_seconds).toBeNull()
    expect(s.quality).toBe('down')
    expect(m.cameras['cam-1']!.lastEvent).toBe(1)
    expect(m.cameras['cam-2']!.status.status).toBe('publishing') // untouched
    expect(m.eventCounter).toBe(1)
  })

  it("a status event's whole status replaces the camera's, timers and counters included", () => {
    const err = lastError({ kind: 'connection_failed', message: 'refused', hint: 'Check the camera.' })
    const whole = status('cam-1', {
      status: 'reconnecting',
      uptime_seconds: null,
      metrics: null,
      pid: null,
      retry_in_seconds: 8,
      restarts: 3,
      error_count: 4,
      last_error: err,
      quality: 'down',
      reconnects_last_hour: 2,
    })
    const m = reduce(
      loaded('cam-1', 'cam-2'),
      ev({ type: 'status', camera_id: 'cam-1', old: 'publishing', new: 'reconnecting', error: err, at: '2025-01-01T12:00:01Z', status: whole }, T0 + 1000),
    )
    const e = m.cameras['cam-1']!
    expect(e.status).toEqual(whole) // as the daemon said, nothing guessed
    expect(e.statusAt).toBe(T0 + 1000) // the retry countdown ticks from its arrival
    expect(e.lastEvent).toBe(1)
    expect(m.cameras['cam-2']!.status).toEqual(status('cam-2'))
  })

  it('a status event with the whole status brings a camera not seen before', () => {
    const whole = status('new-cam', { status: 'starting', uptime_seconds: null })
    const m = reduce(loaded('a'), ev({ type: 'status', camera_id: 'new-cam', old: 'stopped', new: 'starting', error: null, at: '', status: whole }))
    expect(m.cameras['new-cam']!.status).toEqual(whole)
    // ...and a status list asked for before that event does not drop it
    const after = reduce(m, { type: 'statusList', items: [status('a')], since: 0, now: T0 + 2000 })
    expect(after.cameras['new-cam']!.status).toEqual(whole)
    // one asked for after it does (the camera was removed since)
    const later = reduce(after, { type: 'statusList', items: [status('a')], since: after.eventCounter, now: T0 + 3000 })
    expect(later.cameras['new-cam']).toBeUndefined()
  })

  it("an older daemon's event (status null, or another camera's) is applied to what was known", () => {
    const m0 = loaded('cam-1')
    for (const whole of [null, status('cam-9', { status: 'failed' })]) {
      const m = reduce(m0, ev({ type: 'status', camera_id: 'cam-1', old: 'publishing', new: 'reconnecting', error: null, at: '', status: whole }))
      const s = m.cameras['cam-1']!.status
      expect(s.status).toBe('reconnecting')
      expect(s.retry_in_seconds).toBeNull() // unknown: refetched
      expect(s.quality).toBe('down')
      expect(s.camera_id).toBe('cam-1')
    }
  })

  it('stopping then stopped: metrics cleared, desired stopped, quality off', () => {
    let s = status('c', { desired: 'stopped', status: 'stopping' })
    s = applyStatusEvent(s, { camera_id: 'c', old: 'stopping', new: 'stopped', error: null, at: '' })
    expect(s.metrics).toBeNull()
    expect(s.pid).toBeNull()
    expect(s.desired).toBe('stopped')
    expect(s.quality).toBe('off')
  })

  it('back to publishing: uptime starts at 0, timers gone, the error stays', () => {
    const err = lastError()
    let s = status('c', { status: 'reconnecting', uptime_seconds: null, retry_in_seconds: 4, last_error: err, reconnects_last_hour: 1 })
    s = applyStatusEvent(s, { camera_id: 'c', old: 'reconnecting', new: 'publishing', error: null, at: '' })
    expect(s.uptime_seconds).toBe(0)
    expect(s.retry_in_seconds).toBeNull()
    expect(s.last_error).toEqual(err)
    expect(s.quality).toBe('fair')
  })

  it('a metrics event updates fps, bit rate and uptime and extends the series', () => {
    const m0 = loaded('cam-1')
    const m = reduce(
      m0,
      ev(
        {
          type: 'metrics',
          camera_id: 'cam-1',
          metrics: metrics({ fps: 12.5, bitrate_kbps: 900 }),
          uptime_seconds: 333,
          at: '2025-01-01T12:00:01Z',
        },
        T0 + 1000,
      ),
    )
    const e = m.cameras['cam-1']!
    expect(e.status.metrics?.fps).toBe(12.5)
    expect(e.status.metrics?.bitrate_kbps).toBe(900)
    expect(e.status.uptime_seconds).toBe(333)
    expect(e.uptimeAt).toBe(T0 + 1000)
    expect(m.samples['cam-1']).toEqual([{ at: T0 / 1000 + 1, fps: 12.5, bitrate_kbps: 900 }])
  })

  it('metrics series keep 10 minutes', () => {
    let m = loaded('cam-1')
    for (let i = 0; i <= 700; i += 2) {
      const at = new Date(T0 + i * 1000).toISOString()
      m = reduce(m, ev({ type: 'metrics', camera_id: 'cam-1', metrics: metrics({ fps: i }), uptime_seconds: i, at }, T0 + i * 1000))
    }
    const series = m.samples['cam-1']!
    expect(series[0]!.at).toBe(T0 / 1000 + 100)
    expect(series[series.length - 1]!.at).toBe(T0 / 1000 + 700)
  })

  it('a fetched status does not undo a later event, but replaces an older one', () => {
    let m = loaded('cam-1')
    const since = m.eventCounter // the request leaves
    m = reduce(m, ev({ type: 'status', camera_id: 'cam-1', old: 'publishing', new: 'failed', error: lastError(), at: '' }))
    // ...and its answer (taken before the event) arrives after it
    m = reduce(m, { type: 'cameraStatus', status: status('cam-1'), since, now: T0 + 2000 })
    expect(m.cameras['cam-1']!.status.status).toBe('failed')
    m = reduce(m, { type: 'statusList', items: [status('cam-1')], since, now: T0 + 2000 })
    expect(m.cameras['cam-1']!.status.status).toBe('failed')
    // a request that left after the event wins
    m = reduce(m, { type: 'cameraStatus', status: status('cam-1', { retry_in_seconds: 8, status: 'reconnecting' }), since: m.eventCounter, now: T0 + 3000 })
    expect(m.cameras['cam-1']!.status.status).toBe('reconnecting')
    expect(m.cameras['cam-1']!.status.retry_in_seconds).toBe(8)
  })

  it('the status list drops removed cameras', () => {
    const m = reduce(loaded('a', 'b'), { type: 'statusList', items: [status('b')], since: 0, now: T0 })
    expect(Object.keys(m.cameras)).toEqual(['b'])
  })

  it('daemon events and samples', () => {
    let m = reduce(loaded('a'), ev({ type: 'daemon', up: false }))
    expect(m.daemonUp).toBe(false)
    m = reduce(m, ev({ type: 'daemon', up: true }))
    expect(m.daemonUp).toBe(true)
    const nowSec = T0 / 1000
    m = reduce(m, {
      type: 'samples',
      now: T0,
      data: {
        seconds: 600,
        cameras: {
          a: [
            { at: nowSec - 700, fps: 1, bitrate_kbps: 1 }, // older than the window
            { at: nowSec - 10, fps: 25, bitrate_kbps: 2000 },
          ],
        },
      },
    })
    expect(m.samples.a).toEqual([{ at: nowSec - 10, fps: 25, bitrate_kbps: 2000 }])
  })

  it('events for a camera it does not know are counted, not invented', () => {
    const m = reduce(loaded('a'), ev({ type: 'status', camera_id: 'new', old: 'stopped', new: 'starting', error: null, at: '' }))
    expect(m.cameras.new).toBeUndefined()
    expect(m.eventCounter).toBe(1)
  })
})
