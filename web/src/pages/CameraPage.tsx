import { useEffect, useState } from 'react'
import { ApiError, api, errorMessage } from '../api/client'
import type { CameraView, History, TargetView } from '../api/types'
import { CameraActions } from '../components/CameraActions'
import { LogTail } from '../components/LogTail'
import { QualityBadge, StatusBadge } from '../components/StatusBadge'
import { Sparkline } from '../components/Sparkline'
import { StillPicture } from '../components/StillPicture'
import { useSession } from '../context'
import {
  DASH,
  formatAgo,
  formatBitrate,
  formatBytes,
  formatCount,
  formatDuration,
  formatFps,
  formatTime,
  secondsBetween,
} from '../state/format'
import { serverNow } from '../state/live'
import { awaitingPicture, currentRetry, currentUptime, statusDetail } from '../state/status'
import { useStore } from '../state/store'
import { useNow } from '../state/useNow'

/** The central player's page for a publication: player_url + publish_path + "/". */
export function playerLink(target: TargetView | undefined, publishPath: string | null): string | null {
  if (!target?.player_url || !publishPath) return null
  const base = target.player_url.endsWith('/') ? target.player_url : `${target.player_url}/`
  return `${base}${publishPath.replace(/^\/+/, '')}/`
}

export function CameraPage({ id }: { id: string }) {
  const { controller } = useSession()
  const model = useStore(controller.store)
  const now = useNow(1000)
  const entry = model.cameras[id]
  const view: CameraView | undefined = model.views[id]
  const [missing, setMissing] = useState<string | null>(null)
  const [targets, setTargets] = useState<TargetView[]>([])
  const [history, setHistory] = useState<History | null>(null)
  const [historyError, setHistoryError] = useState<string | null>(null)

  // Fresh status and view on arrival (the table's may be a few events old).
  useEffect(() => {
    api.camera(id).then(
      (d) => {
        controller.applyStatus(d.status, controller.store.getState().eventCounter)
        controller.store.dispatch({ type: 'cameraView', item: d.camera })
        setMissing(null)
      },
      (err: unknown) => {
        if (err instanceof ApiError && err.status === 404) setMissing(err.message)
      },
    )
    api.targets().then(
      (t) => setTargets(t.items),
      () => setTargets([]),
    )
  }, [id, controller])

  // The session history, again whenever this camera's status changes.
  const lastEvent = entry?.lastEvent ?? 0
  useEffect(() => {
    let live = true
    api.history(id, 20).then(
      (h) => {
        if (!live) return
        setHistory(h)
        setHistoryError(null)
      },
      (err: unknown) => live && setHistoryError(errorMessage(err)),
    )
    return () => {
      live = false
    }
  }, [id, lastEvent])

  if (!entry) {
    return (
      <section className="page page-camera">
        <p className="crumbs">
          <a href="#/">Cameras</a> / <strong>{id}</strong>
        </p>
        <p className="empty">{missing ? `No camera "${id}": ${missing}` : `Loading ${id}…`}</p>
      </section>
    )
  }

  const s = entry.status
  const err = s.last_error
  const m = s.metrics
  const dark = s.status !== 'publishing'
  const noPicture = awaitingPicture(s)
  const look = dark ? 'dark' : noPicture ? 'waiting' : 'lit'
  const retry = currentRetry(entry, now)
  const target = targets.find((t) => t.name === s.target) ?? targets.find((t) => t.active)
  const player = playerLink(target, s.publish_path)
  const nowSec = serverNow(model, now)
  const samples = model.samples[id]

  return (
    <section className="page page-camera">
      <p className="crumbs">
        <a href="#/">Cameras</a> / <strong>{id}</strong>
        {view?.name ? <span className="muted"> · {view.name}</span> : null}
      </p>

      <div className={`why card why-${look}`} data-testid="why" data-status={s.status} data-look={look}>
        <div className="why-main">
          <span className="why-status">
            <StatusBadge status={s.status} detail={statusDetail(entry, now)} />
          </span>
          {s.status === 'reconnecting' && s.waiting_for_target ? (
            <p className="why-line">Waiting for the target {s.target ? <strong>{s.target}</strong> : null} to answer again; the retry comes as soon as it does.</p>
          ) : retry != null ? (
            <p className="why-line">Next retry in {Math.ceil(retry)} s.</p>
          ) : noPicture ? (
            <p className="why-line">
              No picture yet: <span data-testid="no-picture">waiting for the camera&apos;s first keyframe</span>
              <span className="muted"> (the central has the path)</span>
            </p>
          ) : null}
          {err ? (
            <div className="why-error">
              <p className="why-line">
                <span className="err-kind">{err.kind}</span> {err.message}
                {err.at ? <span className="muted"> · {formatAgo(err.at, now)}</span> : null}
                {!dark ? <span className="muted"> (past: it publishes now)</span> : null}
              </p>
              {err.hint ? (
                <p className="why-hint" data-testid="why-hint">
                  {err.hint}
                </p>
              ) : null}
            </div>
          ) : dark ? (
            <p className="why-line muted">No error recorded.</p>
          ) : null}
        </div>
        <div className="why-side">
          <CameraActions status={s} />
          {player ? (
            <a className="btn btn-small" href={player} target="_blank" rel="noopener noreferrer" data-testid="player-link">
              Open in the central player ↗
            </a>
          ) : null}
        </div>
      </div>

      <div className="camera-grid">
        <StillPicture cameraId={id} />
        <div className="card facts">
          <dl className="facts-list">
            <dt>Desired</dt>
            <dd>{s.desired}</dd>
            <dt>Quality</dt>
            <dd>
              <QualityBadge quality={s.quality} />{' '}
              <span className="muted small">
                {s.reconnects_last_hour} reconnects, {s.stalls_last_hour} stalls in the last hour
              </span>
            </dd>
            <dt>Uptime</dt>
            <dd className="num-inline">{formatDuration(currentUptime(entry, now))}</dd>
            <dt>Target</dt>
            <dd>
              {s.target ?? DASH}
              {s.publish_path ? <span className="muted"> · path {s.publish_path}</span> : null}
            </dd>
            <dt>Restarts / errors</dt>
            <dd className="num-inline">
              {formatCount(s.restarts)} / {formatCount(s.error_count)}
            </dd>
            <dt>FFmpeg</dt>
            <dd className="num-inline">
              {m
                ? `${formatFps(m.fps)} fps · ${formatBitrate(m.bitrate_kbps)} · speed ${m.speed == null ? DASH : `${m.speed.toFixed(2)}×`} · ${formatCount(m.frames)} frames · ${formatBytes(m.bytes)}`
                : 'not running'}
            </dd>
            {m ? (
              <>
                <dt>Tracks</dt>
                <dd>{m.tracks.length ? m.tracks.join(', ') : DASH}</dd>
                {s.audio ? (
                  <>
                    <dt>Audio</dt>
                    <dd data-testid="audio">
                      {s.audio.summary}
                      {s.audio.codec ? ` · camera sends ${s.audio.codec}` : ''}
                    </dd>
                  </>
                ) : null}
                <dt>Readers</dt>
                <dd className="num-inline">{m.readers}</dd>
                <dt>Last progress</dt>
                <dd className="num-inline">
                  {m.since_progress_seconds == null ? DASH : `${m.since_progress_seconds.toFixed(1)} s ago`}
                </dd>
              </>
            ) : null}
            {s.probe_to_keyframe ? (
              <>
                <dt>Probe</dt>
                <dd data-testid="probe">
                  up to the keyframe{' '}
                  <span className="muted small">
                    (MediaMTX dropped an attempt before its first picture: its keyframes may come later than its
                    readTimeout)
                  </span>
                </dd>
              </>
            ) : null}
            <dt>PID</dt>
            <dd className="num-inline">{s.pid ?? DASH}</dd>
            {view ? (
              <>
                <dt>Camera URL</dt>
                <dd className="mono break">{view.url}</dd>
                <dt>Credentials</dt>
                <dd>
                  {view.username ? `user ${view.username}` : 'none'}
                  {view.has_password ? ', password set' : ''}
                </dd>
                <dt>Transport</dt>
                <dd>
                  {view.options.transport}
                  {view.options.audio ? ', audio' : ', no audio'}
                </dd>
              </>
            ) : null}
          </dl>
          <div className="big-sparks">
            <div>
              <div className="muted small">FPS, last 10 min</div>
              <Sparkline samples={samples} field="fps" nowSec={nowSec} label="fps" format={formatFps} width={360} height={64} className="spark-big" legend />
            </div>
            <div>
              <div className="muted small">Bit rate, last 10 min</div>
              <Sparkline
                samples={samples}
                field="bitrate_kbps"
                nowSec={nowSec}
                label="bit rate"
                format={formatBitrate}
                width={360}
                height={64}
                className="spark-big spark-bitrate"
                legend
              />
            </div>
          </div>
        </div>
      </div>

      <LogTail cameraId={id} />

      <div className="history">
        <div className="section-head">
          <h2>Sessions</h2>
          {historyError ? <span className="form-error small">{historyError}</span> : null}
        </div>
        {history && history.items.length > 0 ? (
          <div className="table-wrap">
            <table className="grid" data-testid="history">
              <thead>
                <tr>
                  <th>Start</th>
                  <th>End</th>
                  <th className="num">Duration</th>
                  <th>End reason</th>
                  <th>Error</th>
                  <th className="num">Restarts</th>
                  <th className="num">Frames</th>
                  <th className="num">Bytes</th>
                </tr>
              </thead>
              <tbody>
                {history.items.map((h) => (
                  <tr key={`${h.started_at}-${h.target ?? ''}`}>
                    <td className="nowrap">{formatTime(h.started_at)}</td>
                    <td className="nowrap">{h.ended_at ? formatTime(h.ended_at) : <span className="tone-ok">running</span>}</td>
                    <td className="num">{formatDuration(secondsBetween(h.started_at, h.ended_at, now))}</td>
                    <td>{h.end_reason ?? DASH}</td>
                    <td className="col-error">
                      {h.error_kind ? (
                        <>
                          <span className="err-kind">{h.error_kind}</span> {h.error_message ?? ''}
                        </>
                      ) : (
                        DASH
                      )}
                    </td>
                    <td className="num">{formatCount(h.restarts)}</td>
                    <td className="num">{formatCount(h.frames)}</td>
                    <td className="num">{formatBytes(h.bytes)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p className="muted">{history ? 'No session yet.' : 'Loading…'}</p>
        )}
      </div>
    </section>
  )
}
