// @vitest-environment node
import { describe, expect, it } from 'vitest'
import type { Sample } from '../api/types'
import { appendSample, mergeSamples, sparklinePath, trimSamples } from './samples'

const s = (at: number, fps: number | null, bitrate_kbps: number | null = 1000): Sample => ({ at, fps, bitrate_kbps })

describe('sample series', () => {
  it('trims to the last 10 minutes', () => {
    const list = [s(0, 1), s(399, 2), s(400, 3), s(1000, 4)]
    expect(trimSamples(list, 1000).map((x) => x.at)).toEqual([400, 1000])
  })

  it('appends in time order only', () => {
    const list = [s(10, 1)]
    expect(appendSample(list, s(12, 2), 12)).toHaveLength(2)
    expect(appendSample(list, s(10, 2), 12)).toBe(list)
    expect(appendSample(undefined, s(12, 2), 12)).toEqual([s(12, 2)])
  })

  it('merges live samples after the stored ones', () => {
    const stored = [s(100, 1), s(102, 2)]
    const live = [s(101, 9), s(104, 3)]
    expect(mergeSamples(stored, live, 104).map((x) => x.at)).toEqual([100, 102, 104])
  })
})

describe('the sparkline path', () => {
  const opts = { nowSec: 600, width: 100, height: 20, pad: 0 }

  it('maps time to x and value to y (0 at the bottom)', () => {
    const p = sparklinePath([s(0, 0), s(10, 10), s(20, 5)], 'fps', { ...opts, gapSec: 15, nowSec: 20, windowSec: 20 })
    expect(p.d).toBe('M0 20 L50 0 L100 10')
    expect(p.tip).toEqual({ x: 100, y: 10 })
    expect(p.points).toBe(3)
    expect(p.latest).toBe(5)
    expect(p.max).toBe(10)
  })

  it('leaves out what is older than the window', () => {
    const p = sparklinePath([s(-100, 50), s(300, 10), s(302, 20)], 'fps', opts)
    expect(p.points).toBe(2)
    expect(p.max).toBe(20) // the old 50 does not scale it
    expect(p.d.startsWith('M50 ')).toBe(true)
  })

  it('breaks at gaps and missing values, and keeps a lone point visible', () => {
    const p = sparklinePath([s(0, 1), s(2, 1), s(100, 1), s(102, null), s(104, 1), s(106, 1)], 'fps', opts)
    const moves = p.d.split(' ').filter((t) => t.startsWith('M'))
    expect(moves).toHaveLength(3)
    expect(p.d).toContain('h1')
  })

  it('marks the latest value, even after a missing one', () => {
    const p = sparklinePath([s(590, 10), s(595, 20), s(598, null)], 'fps', opts)
    expect(p.tip).toEqual({ x: 99.2, y: 0 })
  })

  it('is empty without data', () => {
    expect(sparklinePath([], 'fps', opts).d).toBe('')
    expect(sparklinePath([], 'fps', opts).tip).toBeNull()
    expect(sparklinePath([s(590, null)], 'fps', opts).points).toBe(0)
  })

  it('plots the bit rate field', () => {
    const p = sparklinePath([s(590, 25, 500), s(592, 25, 1000)], 'bitrate_kbps', opts)
    expect(p.max).toBe(1000)
    expect(p.latest).toBe(1000)
  })
})
