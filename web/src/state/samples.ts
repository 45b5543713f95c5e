// The fps and bit-rate series behind the sparklines: the stored 10 minutes from
// GET /api/samples, extended by each live metrics event, trimmed to the window.

import type { Sample } from '../api/types'

export const WINDOW_SECONDS = 600
/** Two points further apart than this are not joined (the camera was not running). The
 * daemon stores a sample a minute (what a page gets for the time before the daemon's last
 * start), keeps one every 10 s for the last 10 minutes, and sends one every 2 s: the
 * minute samples must join. */
export const GAP_SECONDS = 75
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

interface Vertex {
  at: number
  value: number
  /** Joined to the vertex before it (no gap, no missing value between). */
  joined: boolean
}

/** The points to draw: the samples of one x unit (a column) averaged into one, so that a
 * minute of 1 s samples on a 96-unit, 10-minute axis is a line and not a scribble; the
 * latest sample stays a point of its own (the dot marks its value). Runs break at gaps. */
export function columnVertices(
  samples: Sample[],
  field: SampleField,
  from: number,
  unitSec: number,
  gapSec: number,
): Vertex[] {
  let lastIndex = -1
  samples.forEach((s, i) => {
    const v = s[field]
    if (v != null && Number.isFinite(v)) lastIndex = i
  })
  const out: Vertex[] = []
  let sum = { at: 0, value: 0, n: 0, column: NaN, joined: false }
  const close = () => {
    if (sum.n > 0) out.push({ at: sum.at / sum.n, value: sum.value / sum.n, joined: sum.joined })
    sum = { at: 0, value: 0, n: 0, column: NaN, joined: false }
  }
  let prevAt: number | null = null
  samples.forEach((s, i) => {
    const v = s[field]
    if (v == null || !Number.isFinite(v)) {
      close()
      prevAt = null
      return
    }
    const joined = prevAt !== null && s.at - prevAt <= gapSec
    const column = Math.floor((s.at - from) / unitSec)
    if (!joined || column !== sum.column || i === lastIndex) {
      close()
      sum.joined = joined
      sum.column = column
    }
    sum.at += s.at
    sum.value += v
    sum.n += 1
    prevAt = s.at
  })
  close()
  return out
}

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
  let runLength = 0
  let tip: SparkPath['tip'] = null
  for (const vx of columnVertices(inWindow, field, from, windowSec / o.width, gap)) {
    if (!vx.joined && runLength === 1) parts.push('h1') // a lone point stays visible
    if (!vx.joined) runLength = 0
    tip = { x: x(vx.at), y: y(vx.value) }
    parts.push(`${vx.joined ? 'L' : 'M'}${tip.x} ${tip.y}`)
    runLength += 1
  }
  if (runLength === 1) parts.push('h1')
  return { d: parts.join(' '), points, latest, max, tip }
}
