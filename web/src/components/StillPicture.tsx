import { useCallback, useEffect, useRef, useState } from 'react'
import { api as defaultApi, errorMessage, type Still } from '../api/client'
import { formatAgo, formatClock } from '../state/format'
import { useNow } from '../state/useNow'

type StillApi = { still: (id: string) => Promise<Still> }

/** One frame, taken on demand (from the central server or the camera), with its source and
 * time; fetched rather than given as <img src> so that both, and a failure's message, show. */
export function StillPicture({ cameraId, api = defaultApi }: { cameraId: string; api?: StillApi }) {
  const [still, setStill] = useState<Still | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const current = useRef<string | null>(null)
  const now = useNow(5000)

  const load = useCallback(async () => {
    setBusy(true)
    try {
      const got = await api.still(cameraId)
      if (current.current) URL.revokeObjectURL(current.current)
      current.current = got.url
      setStill(got)
      setError(null)
    } catch (err) {
      setError(errorMessage(err))
    } finally {
      setBusy(false)
    }
  }, [api, cameraId])

  useEffect(() => {
    void load()
  }, [load])

  useEffect(
    () => () => {
      if (current.current) URL.revokeObjectURL(current.current)
      current.current = null
    },
    [],
  )

  return (
    <figure className="still card">
      <div className="still-frame">
        {still ? (
          <img src={still.url} alt={`latest picture of ${cameraId}`} data-testid="still-image" className={error ? 'stale' : ''} />
        ) : (
          <div className="still-empty muted">{busy ? 'Taking a picture…' : 'No picture'}</div>
        )}
      </div>
      <figcaption className="still-caption">
        <button type="button" className="btn btn-small" onClick={() => void load()} disabled={busy} data-testid="still-refresh">
          {busy ? 'Taking…' : 'Refresh picture'}
        </button>
        {still ? (
          <span className="muted small" data-testid="still-meta">
            from {still.source ?? 'unknown source'}
            {still.at ? ` · ${formatClock(still.at)} (${formatAgo(still.at, now)})` : ''}
          </span>
        ) : null}
        {error ? (
          <span className="form-error small" role="alert" data-testid="still-error">
            {stillErrorText(error)}
            {still ? ' (the one shown is older)' : ''}
          </span>
        ) : null}
      </figcaption>
    </figure>
  )
}

/** A failure to take the picture, said once: the daemon's own message may already begin
 * with "no picture of ID". */
export function stillErrorText(error: string): string {
  if (/^no picture\b/i.test(error)) return error.charAt(0).toUpperCase() + error.slice(1)
  return `No picture: ${error}`
}
