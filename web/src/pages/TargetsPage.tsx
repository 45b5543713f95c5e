import { useCallback, useEffect, useState } from 'react'
import { api, errorMessage } from '../api/client'
import type { TargetCheck, TargetView } from '../api/types'
import { useSession } from '../context'
import { showToast } from '../state/toasts'

type CheckState = { busy: true } | { busy: false; result: TargetCheck } | { busy: false; error: string }

export function TargetsPage() {
  const { canAct } = useSession()
  const [targets, setTargets] = useState<TargetView[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [checks, setChecks] = useState<Record<string, CheckState>>({})
  const [activating, setActivating] = useState<string | null>(null)

  const load = useCallback(async () => {
    try {
      const list = await api.targets()
      setTargets(list.items)
      setError(null)
    } catch (err) {
      setError(errorMessage(err))
    }
  }, [])

  useEffect(() => {
    void load()
  }, [load])

  const check = async (name: string) => {
    setChecks((c) => ({ ...c, [name]: { busy: true } }))
    let next: CheckState
    try {
      next = { busy: false, result: await api.checkTarget(name) }
    } catch (err) {
      next = { busy: false, error: errorMessage(err) }
    }
    setChecks((c) => ({ ...c, [name]: next }))
  }

  const activate = async (name: string) => {
    setActivating(name)
    try {
      await api.activateTarget(name)
      showToast('ok', `target ${name} is now the active one`)
      await load()
    } catch (err) {
      showToast('error', `activate ${name} failed: ${errorMessage(err)}`)
    } finally {
      setActivating(null)
    }
  }

  return (
    <section className="page page-targets">
      <div className="section-head">
        <h1>Targets</h1>
        <span className="muted small">The central MediaMTX servers the cameras are relayed to; one is active.</span>
      </div>
      {error ? <p className="form-error">Could not load the targets: {error}</p> : null}
      {targets === null ? (
        error ? null : <p className="muted">Loading…</p>
      ) : targets.length === 0 ? (
        <p className="empty muted">
          No target is configured. Add one with <code>ucvctl target add</code>.
        </p>
      ) : (
        <div className="table-wrap">
          <table className="grid">
            <thead>
              <tr>
                <th>Name</th>
                <th>RTSP URL</th>
                <th>API URL</th>
                <th>Player</th>
                <th className="col-actions">Check</th>
                {canAct ? <th className="col-actions">Activate</th> : null}
              </tr>
            </thead>
            <tbody>
              {targets.map((t) => {
                const c = checks[t.name]
                return (
                  <tr key={t.name} data-testid={`target-row-${t.name}`} data-active={String(t.active)}>
                    <td>
                      <strong>{t.name}</strong>{' '}
                      {t.active ? <span className="badge badge-active">active</span> : null}
                    </td>
                    <td className="mono break">{t.rtsp_url}</td>
                    <td className="mono break">
                      {t.api_url ?? '—'}
                      {t.api_url && !t.api_enabled ? <span className="muted"> (off)</span> : null}
                    </td>
                    <td className="mono break">
                      {t.player_url ? (
                        <a href={t.player_url} target="_blank" rel="noopener noreferrer" data-testid={`player-${t.name}`}>
                          {t.player_url}
                        </a>
                      ) : (
                        '—'
                      )}
                    </td>
                    <td className="col-check">
                      {canAct ? (
                        <button
                          type="button"
                          className="btn btn-small"
                          data-testid={`check-${t.name}`}
                          disabled={c?.busy === true}
                          onClick={() => void check(t.name)}
                        >
                          {c?.busy ? 'Checking…' : 'Check'}
                        </button>
                      ) : null}
                      {c && !c.busy ? <CheckResult state={c} /> : null}
                    </td>
                    {canAct ? (
                      <td>
                        {t.active ? null : (
                          <button
                            type="button"
                            className="btn btn-small"
                            data-testid={`activate-${t.name}`}
                            disabled={activating !== null}
                            onClick={() => void activate(t.name)}
                          >
                            {activating === t.name ? 'Activating…' : 'Activate'}
                          </button>
                        )}
                      </td>
                    ) : null}
                  </tr>
                )
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  )
}

function CheckResult({ state }: { state: { busy: false; result: TargetCheck } | { busy: false; error: string } }) {
  if ('error' in state) {
    return (
      <div className="check check-bad" data-testid="check-result" data-ok="false">
        check failed: {state.error}
      </div>
    )
  }
  const r = state.result
  const yes = (v: boolean | null, off = 'off') => (v === null ? off : v ? 'yes' : 'no')
  return (
    <div className={`check ${r.ok ? 'check-ok' : 'check-bad'}`} data-testid="check-result" data-ok={String(r.ok)}>
      <strong>{r.ok ? 'ok' : 'problems'}</strong>
      <span className="muted small">
        {' '}
        RTSP reachable: {yes(r.rtsp_reachable, 'n/a (SRT)')}
        {r.tls ? ` · TLS certificate: ${r.tls}` : ''} · API: {yes(r.api_reachable)}
        {r.api_version ? ` (${r.api_version})` : ''} · API auth: {yes(r.api_auth_ok, 'n/a')}
      </span>
      {r.problems.length > 0 ? (
        <ul className="problems">
          {r.problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      ) : null}
    </div>
  )
}
