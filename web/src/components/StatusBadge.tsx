import { qualityTone, statusTone } from '../state/status'

/** The status word next to a dot whose colour and shape both say it (colour-blind safe). */
export function StatusBadge({ status, detail }: { status: string; detail?: string }) {
  const tone = statusTone(status)
  return (
    <span className={`status tone-${tone}`}>
      <span className={`dot dot-${tone}`} aria-hidden="true" />
      <span className="status-word">{status}</span>
      {detail ? <span className="status-detail">{detail}</span> : null}
    </span>
  )
}

export function QualityBadge({ quality }: { quality: string }) {
  return <span className={`quality tone-${qualityTone(quality)}`}>{quality}</span>
}
