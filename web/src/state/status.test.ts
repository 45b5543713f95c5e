// @vitest-environment node
import { describe, expect, it } from 'vitest'
import { metrics, status } from '../test/fixtures'
import { availableActions, type CameraEntry, currentRetry, currentUptime, statusDetail, summarize } from './status'

const entry = (over: Parameters<typeof status>[1], at = 1_000_000): CameraEntry => ({
  status: status('c', over),
  statusAt: at,
  uptimeAt: at,
  lastEvent: 0,
})

describe('local clocks', () => {
  it('the retry countdown ticks down and stops at zero', () => {
    const e = entry({ status: 'reconnecting', retry_in_seconds: 8, uptime_seconds: null })
    expect(statusDetail(e, 1_000_000)).toBe('retry in 8 s')
    expect(currentRetry(e, 1_003_000)).toBe(5)
    expect(statusDetail(e, 1_003_000)).toBe('retry in 5 s')
    expect(statusDetail(e, 1_007_500)).toBe('retry in 1 s')
    expect(statusDetail(e, 1_009_000)).toBe('retrying…')
  })

  it('waiting for the target has no countdown', () => {
    const e = entry({ status: 'reconnecting', retry_in_seconds: null, waiting_for_target: true })
    expect(statusDetail(e, 1_005_000)).toBe('waiting for target')
  })

  it('a publishing camera without a picture says so, only once FFmpeg has reported', () => {
    expect(statusDetail(entry({ metrics: metrics({ frames: 0 }) }), 1_000_000)).toBe('no picture yet')
    expect(statusDetail(entry({ metrics: metrics({ frames: 3 }) }), 1_000_000)).toBe('')
    expect(statusDetail(entry({ metrics: metrics({ frames: 0, since_progress_seconds: null }) }), 1_000_000)).toBe('')
    expect(statusDetail(entry({ status: 'starting', metrics: metrics({ frames: 0 }) }), 1_000_000)).toBe('')
  })

  it('uptime counts on from the last report, only while publishing', () => {
    const e = entry({ uptime_seconds: 100 })
    expect(currentUptime(e, 1_000_000 + 65_000)).toBe(165)
    expect(currentUptime(entry({ status: 'failed', uptime_seconds: 100 }), 1_065_000)).toBeNull()
  })
})

describe('actions and summary', () => {
  it('offers what makes sense', () => {
    expect(availableActions(status('c'))).toEqual({ start: false, stop: true, restart: true })
    expect(availableActions(status('c', { status: 'stopped', desired: 'stopped' }))).toEqual({ start: true, stop: false, restart: false })
    expect(availableActions(status('c', { status: 'failed' }))).toEqual({ start: true, stop: true, restart: true })
  })

  it('counts by status', () => {
    const sum = summarize([
      status('a'),
      status('b'),
      status('c', { status: 'reconnecting' }),
      status('d', { status: 'failed' }),
      status('e', { status: 'stopped' }),
      status('f', { status: 'starting' }),
    ])
    expect(sum).toEqual({ publishing: 2, starting: 1, reconnecting: 1, failed: 1, stopped: 1, total: 6 })
  })
})
