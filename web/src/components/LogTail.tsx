import { useEffect, useLayoutEffect, useRef, useState } from 'react'
import { api as defaultApi, errorMessage } from '../api/client'
import type { LogEntry, Logs } from '../api/types'
import { formatClock } from '../state/format'

export const MAX_LOG_LINES = 500
export const FOLLOW_MS = 2000
const FIRST_LINES = 200

/** The lines after new ones arrived: those past our last seq appended, at most `cap`. */
export function appendLines(have: LogEntry[], got: Logs, cap = MAX_LOG_LINES): LogEntry[] {
  const last = have.length ? have[have.length - 1]!.seq : 0
  const add = got.lines.filter((l) => l.seq > last)
  if (add.length === 0) return have
  const all = [...have, ...add]
  return all.length > cap ? all.slice(all.length - cap) : all
}

type LogsApi = { logs: (id: string, lines: number, after?: number) => Promise<Logs> }

/** The FFmpeg log tail, followed every 2 s while shown; scrolls with new lines unless the
 * user scrolled up to read. */
export function LogTail({ cameraId, api = defaultApi }: { cameraId: string; api?: LogsApi }) {
  const [lines, setLines] = useState<LogEntry[]>([])
  const [error, setError] = useState<string | null>(null)
  const [follow, setFollow] = useState(true)
  const box = useRef<HTMLPreElement>(null)
  const lastSeq = useRef(0)

  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | null = null
    lastSeq.current = 0
    setLines([])
    const tick = async () => {
      try {
        const after = lastSeq.current
        const got = await api.logs(cameraId, FIRST_LINES, after || undefined)
        if (stopped) return
        // The daemon restarted (its seq starts over): begin again from its tail, now.
        if (after > 0 && got.last_seq < after) {
          lastSeq.current = 0
          setLines([])
          void tick()
          return
        }
        lastSeq.current = Math.max(after, got.last_seq)
        setLines((have) => appendLines(have, got))
        setError(null)
      } catch (err) {
        if (!stopped) setError(errorMessage(err))
      }
      if (!stopped) timer = setTimeout(() => void tick(), FOLLOW_MS)
    }
    void tick()
    return () => {
      stopped = true
      if (timer !== null) clearTimeout(timer)
    }
  }, [cameraId, api])

  // Keep the end in view while following.
  useLayoutEffect(() => {
    const el = box.current
    if (el && follow) el.scrollTop = el.scrollHeight
  }, [lines, follow])

  const onScroll = () => {
    const el = box.current
    if (!el) return
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 24
    if (atEnd !== follow) setFollow(atEnd)
  }

  return (
    <div className="logtail">
      <div className="section-head">
        <h2>FFmpeg log</h2>
        <span className="muted small">
          {follow ? 'following' : 'paused while you read'} · last {MAX_LOG_LINES} lines at most
        </span>
        {!follow ? (
          <button type="button" className="btn btn-small" onClick={() => setFollow(true)}>
            Jump to the end
          </button>
        ) : null}
        {error ? <span className="form-error small">{error}</span> : null}
      </div>
      <pre className="log" ref={box} onScroll={onScroll} data-testid="log-tail" data-lines={lines.length} tabIndex={0}>
        {lines.length === 0 ? (
          <span className="muted">no log lines yet</span>
        ) : (
          lines.map((l) => (
            <div key={l.seq} className="log-line">
              <span className="log-at">{formatClock(l.at)}</span> {l.text}
            </div>
          ))
        )}
      </pre>
    </div>
  )
}
