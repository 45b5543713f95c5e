// @vitest-environment node
import { describe, expect, it } from 'vitest'
import {
  formatAgo,
  formatBitrate,
  formatBytes,
  formatCount,
  formatCountdown,
  formatDuration,
  formatFps,
  formatTime,
  secondsBetween,
} from './format'

describe('units', () => {
  it('bit rates from kb/s', () => {
    expect(formatBitrate(850)).toBe('850 kb/s')
    expect(formatBitrate(1234)).toBe('1.2 Mb/s')
    expect(formatBitrate(1000)).toBe('1 Mb/s')
    expect(formatBitrate(12_345)).toBe('12 Mb/s')
    expect(formatBitrate(9_960)).toBe('10 Mb/s')
    expect(formatBitrate(2_500_000)).toBe('2.5 Gb/s')
    expect(formatBitrate(null)).toBe('—')
    expect(formatBitrate(Number.NaN)).toBe('—')
  })

  it('durations in their two largest units', () => {
    expect(formatDuration(0)).toBe('0s')
    expect(formatDuration(45.9)).toBe('45s')
    expect(formatDuration(725)).toBe('12m 5s')
    expect(formatDuration(3 * 3600 + 12 * 60 + 40)).toBe('3h 12m')
    expect(formatDuration(2 * 86400 + 3 * 3600 + 5)).toBe('2d 3h')
    expect(formatDuration(null)).toBe('—')
  })

  it('how long ago', () => {
    const now = Date.parse('2025-01-01T12:00:00Z')
    expect(formatAgo('2025-01-01T11:59:48Z', now)).toBe('12 s ago')
    expect(formatAgo('2025-01-01T11:55:00Z', now)).toBe('5 min ago')
    expect(formatAgo('2025-01-01T09:00:00Z', now)).toBe('3 h ago')
    expect(formatAgo('2024-12-29T12:00:00Z', now)).toBe('3 d ago')
    expect(formatAgo('2025-01-01T12:00:05Z', now)).toBe('just now') // a clock ahead
    expect(formatAgo(null, now)).toBe('—')
    expect(formatAgo('not a time', now)).toBe('—')
  })

  it('bytes, fps, counts, countdowns', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1_234_567)).toBe('1.2 MB')
    expect(formatBytes(3_400_000_000)).toBe('3.4 GB')
    expect(formatFps(25)).toBe('25.0')
    expect(formatFps(7.46)).toBe('7.5')
    expect(formatFps(null)).toBe('—')
    expect(formatCount(1234567)).toBe('1,234,567')
    expect(formatCountdown(4.2)).toBe('5 s')
    expect(formatCountdown(-1)).toBe('0 s')
  })

  it('times and spans', () => {
    // vite.config.ts runs the tests in UTC
    expect(formatTime('2025-01-31T14:05:09Z')).toBe('2025-01-31 14:05:09')
    expect(secondsBetween('2025-01-01T00:00:00Z', '2025-01-01T01:00:00Z', 0)).toBe(3600)
    expect(secondsBetween('2025-01-01T00:00:00Z', null, Date.parse('2025-01-01T00:00:30Z'))).toBe(30)
  })
})
