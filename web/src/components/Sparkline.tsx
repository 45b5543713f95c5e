import { memo } from 'react'
import type { Sample } from '../api/types'
import { type SampleField, sparklinePath, WINDOW_SECONDS } from '../state/samples'

export interface SparklineProps {
  samples: Sample[] | undefined
  field: SampleField
  /** The window's right edge, Unix seconds (server clock). */
  nowSec: number
  width?: number
  height?: number
  windowSec?: number
  /** What it shows, for screen readers and the tooltip: "fps", "bit rate". */
  label: string
  format: (v: number | null) => string
  className?: string
  /** Say the latest and the peak value under the line. */
  legend?: boolean
}

/** A tiny inline SVG line of one field over the last 10 minutes. */
export const Sparkline = memo(function Sparkline({
  samples,
  field,
  nowSec,
  width = 96,
  height = 18,
  windowSec = WINDOW_SECONDS,
  label,
  format,
  className,
  legend = false,
}: SparklineProps) {
  // Whole seconds: a re-render each tick moves the line, not each millisecond.
  const now = Math.floor(nowSec)
  const p = sparklinePath(samples ?? [], field, { nowSec: now, windowSec, width, height })
  const minutes = Math.round(windowSec / 60)
  const title =
    p.points === 0
      ? `${label}: no data in the last ${minutes} min`
      : `${label} over the last ${minutes} min: now ${format(p.latest)}, peak ${format(p.max)}`
  const svg = (
    <svg
      className={`spark ${className ?? ''}`}
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      preserveAspectRatio="none"
      role="img"
      aria-label={title}
      data-points={p.points}
    >
      <title>{title}</title>
      <line className="spark-base" x1="0" y1={height - 0.5} x2={width} y2={height - 0.5} />
      {p.d && <path className="spark-line" d={p.d} />}
      {/* A zero-length stroke with round caps: a round dot even where the SVG is stretched. */}
      {p.tip && <path className="spark-dot" d={`M${p.tip.x} ${p.tip.y} h0`} />}
    </svg>
  )
  if (!legend) return svg
  return (
    <>
      {svg}
      <div className="spark-legend">
        {p.points === 0 ? 'no data' : `now ${format(p.latest)} · peak ${format(p.max)} · scale from 0`}
      </div>
    </>
  )
})
