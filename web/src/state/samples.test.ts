// @vitest-environment node
import { describe, expect, it } from 'vitest'
import type { Sample } from '../api/types'
import { appendSample, columnVertices, mergeSamples, sparklinePath, trimSamples } from './samples'

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

  it('joins the stored minute samples (what a page gets after a daemon restart)', () => {
    const minutes = [s(120, 25), s(180, 24), s(240, 25), s(300, 25), s(360, 23)]
    const p = sparklinePath(minutes, 'fps', opts)
    expect(p.d.split(' ').filter((t) => t.startsWith('M'))).toHaveLength(1)
    // A camera dark for several minutes still breaks the line.
    const dark = sparklinePath([s(100, 25), s(160, 25), s(400, 25), s(460, 25)], 'fps', opts)
    expect(dark.d.split(' ').filter((t) => t.startsWith('M'))).toHaveLength(2)
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

  it('averages the samples of one x unit; the latest stays its own point', () => {
    // A minute of 1 s samples, alternating 10 and 30, on a 96-unit, 10-minute axis.
    const minute = Array.from({ length: 60 }, (_, i) => s(541 + i, i % 2 ? 30 : 10))
    const p = sparklinePath(minute, 'fps', { nowSec: 600, width: 96, height: 20, pad: 0 })
    const vertices = p.d.split(' ').filter((t) => /^[ML]/.test(t))
    expect(vertices.length).toBeLessThanOrEqual(12) // not 60 in 10 units
    expect(p.points).toBe(60)
    expect(p.latest).toBe(30)
    expect(p.tip).toEqual({ x: 96, y: 0 }) // the latest sample itself, at the top
    // Before it, each point is a column's mean (about 20, y 6.7), never 10 (y 13.3) or 30 (y 0).
    const ys = p.d.split(' ').filter((t) => !/^[MLh]/.test(t)).map(Number).slice(0, -1)
    expect(ys.length).toBeGreaterThan(5)
    for (const yv of ys) expect(yv).toBeGreaterThan(4)
    for (const yv of ys) expect(yv).toBeLessThan(10)
  })

  it('columns do not join across a gap', () => {
    const list = [s(0, 1), s(2, 3), s(30, 5), s(31, 7)] // 6 s columns: [0, 2] | 30 | 31 (latest)
    expect(columnVertices(list, 'fps', 0, 6, 15)).toEqual([
      { at: 1, value: 2, joined: false },
      { at: 30, value: 5, joined: false },
      { at: 31, value: 7, joined: true },
    ])
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
