import { useMemo, useState } from 'react'
import type { CameraView, Sample } from '../api/types'
import { CameraActions } from '../components/CameraActions'
import { QualityBadge, StatusBadge } from '../components/StatusBadge'
import { Sparkline } from '../components/Sparkline'
import { useSession } from '../context'
import { cameraHref } from '../router'
import { DASH, formatAgo, formatBitrate, formatCount, formatDuration, formatFps } from '../state/format'
import { serverNow } from '../state/live'
import {
  type CameraEntry,
  currentUptime,
  severity,
  statusDetail,
  statusTone,
  summarize,
  type Tone,
} from '../state/status'
import { useStore } from '../state/store'
import { useNow } from '../state/useNow'

type Group = 'publishing' | 'starting' | 'reconnecting' | 'failed' | 'stopped'
type SortBy = 'id' | 'problems'

const GROUPS: { group: Group; label: string; tone: Tone }[] = [
  { group: 'publishing', label: 'publishing', tone: 'ok' },
  { group: 'starting', label: 'starting/stopping', tone: 'busy' },
  { group: 'reconnecting', label: 'reconnecting', tone: 'warn' },
  { group: 'failed', label: 'failed', tone: 'bad' },
  { group: 'stopped', label: 'stopped', tone: 'off' },
]

function groupOf(status: string): Group {
  switch (statusTone(status)) {
    case 'ok':
      return 'publishing'
    case 'busy':
      return 'starting'
    case 'warn':
      return 'reconnecting'
    case 'bad':
      return 'failed'
    default:
      return 'stopped'
  }
}

/** Does a camera match the filter text (id, name, status, quality, target, error)? */
export function matchesFilter(entry: CameraEntry, view: CameraView | undefined, text: string): boolean {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean)
  if (words.length === 0) return true
  const s = entry.status
  const hay = [
    s.camera_id,
    view?.name ?? '',
    s.status,
    s.quality,
    s.target ?? '',
    s.last_error?.kind ?? '',
    s.last_error?.message ?? '',
    s.waiting_for_target ? 'waiting for target' : '',
  ]
    .join('\n')
    .toLowerCase()
  return words.every((w) => hay.includes(w))
}

export function CamerasPage() {
  const { controller, canAct } = useSession()
  const model = useStore(controller.store)
  const now = useNow(1000)
  const [filter, setFilter] = useState('')
  const [group, setGroup] = useState<Group | null>(null)
  const [sortBy, setSortBy] = useState<SortBy>('id')

  const entries = useMemo(() => Object.values(model.cameras), [model.cameras])
  const summary = useMemo(() => summarize(entries.map((e) => e.status)), [entries])
  const rows = useMemo(() => {
    const shown = entries.filter(
      (e) =>
        (group === null || groupOf(e.status.status) === group) &&
        matchesFilter(e, model.views[e.status.camera_id], filter),
    )
    const byId = (a: CameraEntry, b: CameraEntry) =>
      a.status.camera_id.localeCompare(b.status.camera_id, 'en', { numeric: true })
    shown.sort(
      sortBy === 'problems'
        ? (a, b) => severity(a.status) - severity(b.status) || byId(a, b)
        : byId,
    )
    return shown
  }, [entries, model.views, filter, group, sortBy])
  const nowSec = serverNow(model, now)

  return (
    <section className="page page-cameras">
      <div className="toolbar">
        <div className="summary" role="group" aria-label="cameras by status">
          {GROUPS.filter((g) => g.group !== 'starting' || summary.starting > 0).map((g) => (
            <button
              key={g.group}
              type="button"
              className={`chip tone-${g.tone}${group === g.group ? ' chip-on' : ''}`}
              aria-pressed={group === g.group}
              data-testid={`summary-${g.group}`}
              onClick={() => setGroup(group === g.group ? null : g.group)}
            >
              <span className={`dot dot-${g.tone}`} aria-hidden="true" />
              <span className="num">{summary[g.group]}</span> {g.label}
            </button>
          ))}
          <span className="summary-total muted">of {summary.total}</span>
        </div>
        <div className="toolbar-right">
          <input
            type="search"
            className="filter"
            placeholder="Filter: id, name, status, error…"
            aria-label="filter cameras"
            data-testid="camera-filter"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
          />
          <label className="sort">
            <span className="muted">Sort</span>
            <select value={sortBy} onChange={(e) => setSortBy(e.target.value as SortBy)} aria-label="sort cameras">
              <option value="id">by id</option>
              <option value="problems">problems first</option>
            </select>
          </label>
        </div>
      </div>

      {!model.loaded && entries.length === 0 ? (
        <p className="empty muted">{model.loadError ? `Not loaded: ${model.loadError}` : 'Loading cameras…'}</p>
      ) : entries.length === 0 ? (
        <p className="empty muted">
          No camera is registered. Add one with <code>ucvctl camera add</code> or from Discovery.
        </p>
      ) : (
        <div className="table-wrap">
          <table className="grid cameras-grid">
            <thead>
              <tr>
                <th className="col-status">Status</th>
                <th className="col-camera">Camera</th>
                <th className="num">Uptime</th>
                <th className="num">FPS</th>
                <th className="num">Bit rate</th>
                <th className="num" title="restarts">Restarts</th>
                <th>Quality</th>
                <th className="col-error">Last error</th>
                <th className="col-spark">FPS, 10 min</th>
                <th className="col-spark">Bit rate, 10 min</th>
                {canAct ? <th className="col-actions">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {rows.map((e) => (
                <CameraRow
                  key={e.status.camera_id}
                  entry={e}
                  view={model.views[e.status.camera_id]}
                  samples={model.samples[e.status.camera_id]}
                  now={now}
                  nowSec={nowSec}
                  canAct={canAct}
                />
              ))}
            </tbody>
          </table>
          {rows.length === 0 ? <p className="empty muted">No camera matches the filter.</p> : null}
        </div>
      )}
    </section>
  )
}

interface RowProps {
  entry: CameraEntry
  view: CameraView | undefined
  samples: Sample[] | undefined
  now: number
  nowSec: number
  canAct: boolean
}

function CameraRow({ entry, view, samples, now, nowSec, canAct }: RowProps) {
  const s = entry.status
  const err = s.last_error
  const dark = s.status !== 'publishing'
  const m = s.metrics
  const errTitle = err ? [`${err.kind}: ${err.message}`, err.hint].filter(Boolean).join('\n') : undefined
  return (
    <tr
      data-testid={`camera-row-${s.camera_id}`}
      data-status={s.status}
      className={`row tone-row-${statusTone(s.status)}`}
    >
      <td className="col-status">
        <StatusBadge status={s.status} detail={statusDetail(entry, now)} />
      </td>
      <td className="col-camera">
        <a href={cameraHref(s.camera_id)} className="cam-id">
          {s.camera_id}
        </a>
        {view?.name ? <span className="cam-name">{view.name}</span> : null}
      </td>
      <td className="num">{formatDuration(currentUptime(entry, now))}</td>
      <td className="num">{m ? formatFps(m.fps) : DASH}</td>
      <td className="num">{m ? formatBitrate(m.bitrate_kbps) : DASH}</td>
      <td className="num">{formatCount(s.restarts)}</td>
      <td>
        <QualityBadge quality={s.quality} />
      </td>
      <td className={`col-error${dark ? '' : ' err-past'}`} title={errTitle}>
        {err ? (
          <>
            <div className="err-line">
              <span className="err-kind">{err.kind}</span> <span className="err-msg">{err.message}</span>
              {err.at ? <span className="err-ago"> · {formatAgo(err.at, now)}</span> : null}
            </div>
            {dark && err.hint ? (
              <div className="err-hint" data-testid="error-hint">
                {err.hint}
              </div>
            ) : null}
          </>
        ) : (
          <span className="muted">{DASH}</span>
        )}
      </td>
      <td className="col-spark">
        <Sparkline samples={samples} field="fps" nowSec={nowSec} label="fps" format={formatFps} />
      </td>
      <td className="col-spark">
        <Sparkline
          samples={samples}
          field="bitrate_kbps"
          nowSec={nowSec}
          label="bit rate"
          format={formatBitrate}
          className="spark-bitrate"
        />
      </td>
      {canAct ? (
        <td className="col-actions">
          <CameraActions status={s} />
        </td>
      ) : null}
    </tr>
  )
}
