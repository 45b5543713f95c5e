// The fps and bit-rate series behind the sparklines: the stored 10 minutes from
// GET /api/samples, extended by each live metrics event, trimmed to the window.

import type { Sample } from '../api/types'

export const WINDOW_SECONDS = 600
/** Two points further apart than this are not joined (the camera was not running). */
export const GAP_SECONDS = 15
/** Far more than 10 minutes of 2 s samples: a bound should a server send too many. */
export const MAX_SAMPLES = 1200

/** The samples within [now - window, ...], oldest first, at most MAX_SAMPLES. */
export function trimSamples(samples: Sample[], nowSec: number, windowSec = WINDOW_SECONDS): Sample[] {
  const from = nowSec - windowSec
  let i = 0
  while (i < samples.length && samples[i]!.at < from) i += 1
  if (samples.length - i > MAX_SAMPLES) i = samples.length - MAX_SAMPLES
  return i === 0 ? samples : samples.slice(i)
}

/** One more sample at the end (in time order; a stale or duplicate one is dropped). */
export function appendSample(
  samples: Sample[] | undefined,
  sample: Sample,
  nowSec: number,
  windowSec = WINDOW_SECONDS,
): Sample[] {
  const list = samples ?? []
  const last = list[list.length - 1]
  if (last && sample.at <= last.at) return list
  return trimSamples([...list, sample], nowSec, windowSec)
}

/** The server's stored series, with the live samples that came after its last one. */
export function mergeSamples(
  stored: Sample[],
  live: Sample[] | undefined,
  nowSec: number,
  windowSec = WINDOW_SECONDS,
): Sample[] {
  const lastStored = stored.length ? stored[stored.length - 1]!.at : -Infinity
  const newer = (live ?? []).filter((s) => s.at > lastStored)
  return trimSamples([...stored, ...newer], nowSec, windowSec)
}

export type SampleField = 'fps' | 'bitrate_kbps'

export interface PathOptions {
  nowSec: number
  windowSec?: number
  width: number
  height: number
  gapSec?: number
  /** The value at the top; the series' maximum when not given. */
  max?: number
  /** Room left at top and bottom for the stroke. */
  pad?: number
}

export interface SparkPath {
  d: string
  points: number
  latest: number | null
  max: number
  /** Where the latest value is drawn (null without data): marked with a dot, so a series
   * still short against the 10-minute axis is seen at once. */
  tip: { x: number; y: number } | null
}

const r1 = (v: number) => Math.round(v * 10) / 10

/** An SVG path of one field over the window: x by time, y from 0 (bottom) to max (top);
 * broken where a value is missing or two samples are more than gapSec apart. */
export function sparklinePath(samples: Sample[], field: SampleField, o: PathOptions): SparkPath {
  const windowSec = o.windowSec ?? WINDOW_SECONDS
  const gap = o.gapSec ?? GAP_SECONDS
  const pad = o.pad ?? 1.5
  const from = o.nowSec - windowSec
  const inWindow = samples.filter((s) => s.at >= from && s.at <= o.nowSec + 5)
  let max = o.max ?? 0
  let latest: number | null = null
  let points = 0
  for (const s of inWindow) {
    const v = s[field]
    if (v == null || !Number.isFinite(v)) continue
    points += 1
    latest = v
    if (o.max === undefined && v > max) max = v
  }
  if (max <= 0) max = 1
  const x = (at: number) => r1(Math.min(o.width, Math.max(0, ((at - from) / windowSec) * o.width)))
  const y = (v: number) =>
    r1(pad + (1 - Math.min(1, Math.max(0, v / max))) * (o.height - 2 * pad))
  const parts: string[] = []
  let prevAt: number | null = null
  let runLength = 0
  let tip: SparkPath['tip'] = null
  for (const s of inWindow) {
    const v = s[field]
    if (v == null || !Number.isFinite(v)) {
      prevAt = null
      continue
    }
    const joined = prevAt !== null && s.at - prevAt <= gap
    if (!joined && runLength === 1) parts.push('h1') // a lone point stays visible
    if (!joined) runLength = 0
    tip = { x: x(s.at), y: y(v) }
    parts.push(`${joined ? 'L' : 'M'}${tip.x} ${tip.y}`)
    runLength += 1
    prevAt = s.at
  }
  if (runLength === 1) parts.push('h1')
  return { d: parts.join(' '), points, latest, max, tip }
}
