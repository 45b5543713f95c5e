import { type FormEvent, useEffect, useState } from 'react'
import { api, errorMessage } from '../api/client'
import type { CameraAddBody, DiscoveredDevice, DiscoveredStream, DiscoveryResult, ScanBody } from '../api/types'
import { useSession } from '../context'
import { cameraHref } from '../router'
import { formatCount } from '../state/format'
import { showToast } from '../state/toasts'

const DEFAULT_TIMEOUT = 5

/** A camera id from a device's name or address: "Front Door" -> "front-door",
 * "192.0.2.10" -> "192-0-2-10" (ucvd's rule: a-z, 0-9, '.', '_', '-', at most 63). */
export function suggestId(device: Pick<DiscoveredDevice, 'scope_name' | 'address'>, stream?: Pick<DiscoveredStream, 'profile'>, multi = false): string {
  const base = (device.scope_name || device.address)
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // é -> e
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
  const suffix = multi && stream ? `-${stream.profile.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')}` : ''
  const id = `${base || 'camera'}${suffix}`.slice(0, 63).replace(/-+$/, '')
  return id || 'camera'
}

function resolution(s: DiscoveredStream): string {
  const size = s.width && s.height ? `${s.width}×${s.height}` : ''
  return [size, s.encoding ?? ''].filter(Boolean).join(' ') || '—'
}

interface AddDraft {
  key: string
  body: CameraAddBody
}

export function DiscoveryPage() {
  const { canAct, controller } = useSession()
  const [subnet, setSubnet] = useState('')
  const [timeout, setTimeoutS] = useState(String(DEFAULT_TIMEOUT))
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [scanning, setScanning] = useState<{ since: number; upTo: number } | null>(null)
  const [elapsed, setElapsed] = useState(0)
  const [result, setResult] = useState<DiscoveryResult | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [draft, setDraft] = useState<AddDraft | null>(null)
  const [added, setAdded] = useState<Record<string, string>>({}) // stream key -> camera id

  useEffect(() => {
    if (!scanning) return
    const id = setInterval(() => setElapsed(Math.floor((Date.now() - scanning.since) / 1000)), 500)
    return () => clearInterval(id)
  }, [scanning])

  const scan = async (e: FormEvent) => {
    e.preventDefault()
    const t = Number(timeout)
    const body: ScanBody = {}
    if (subnet.trim()) body.subnet = subnet.trim()
    if (timeout.trim() && Number.isFinite(t)) body.timeout = t
    if (username) body.username = username
    if (password) body.password = password
    const upTo = body.timeout ?? DEFAULT_TIMEOUT
    setScanning({ since: Date.now(), upTo })
    setElapsed(0)
    setError(null)
    setDraft(null)
    try {
      setResult(await api.scan(body))
    } catch (err) {
      setError(errorMessage(err))
    } finally {
      setScanning(null)
    }
  }

  const startAdd = (device: DiscoveredDevice, stream: DiscoveredStream | null, url: string, key: string) => {
    const multi = device.streams.length > 1
    setDraft({
      key,
      body: {
        id: suggestId(device, stream ?? undefined, multi),
        url,
        name: device.scope_name ?? '',
        username,
        password,
      },
    })
  }

  return (
    <section className="page page-discovery">
      <div className="section-head">
        <h1>Discovery</h1>
        <span className="muted small">
          Finds cameras by ONVIF WS-Discovery on the local network and, given a subnet, by an RTSP port sweep.
        </span>
      </div>
      {!canAct ? <p className="banner banner-note">Scanning and adding cameras need an operator token; this one is read-only.</p> : null}
      <form className="card scan-form" onSubmit={(e) => void scan(e)}>
        <label>
          <span>Subnet</span>
          <input value={subnet} onChange={(e) => setSubnet(e.target.value)} placeholder="192.0.2.0/24 (optional)" data-testid="scan-subnet" />
        </label>
        <label>
          <span>Timeout (s)</span>
          <input type="number" min={0.5} max={120} step={0.5} value={timeout} onChange={(e) => setTimeoutS(e.target.value)} data-testid="scan-timeout" className="input-narrow" />
        </label>
        <label>
          <span>Username</span>
          <input value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="off" placeholder="optional" data-testid="scan-username" />
        </label>
        <label>
          <span>Password</span>
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" placeholder="optional" data-testid="scan-password" />
        </label>
        <button type="submit" className="btn btn-primary" disabled={!canAct || scanning !== null} data-testid="scan-submit">
          {scanning ? 'Scanning…' : 'Scan'}
        </button>
        {scanning ? (
          <span className="muted" data-testid="scan-progress" role="status">
            scanning… up to {scanning.upTo} s ({elapsed} s)
          </span>
        ) : null}
      </form>
      {error ? (
        <p className="form-error" role="alert" data-testid="action-result" data-kind="error">
          Scan failed: {error}
        </p>
      ) : null}
      {result ? (
        <ScanResult
          result={result}
          canAct={canAct}
          added={added}
          draft={draft}
          onAdd={startAdd}
          onCancel={() => setDraft(null)}
          onDraft={setDraft}
          onAdded={(key, id) => {
            setAdded((a) => ({ ...a, [key]: id }))
            setDraft(null)
            showToast('ok', `camera ${id} added (stopped: start it when ready)`)
            void controller.load()
          }}
        />
      ) : null}
    </section>
  )
}

interface ScanResultProps {
  result: DiscoveryResult
  canAct: boolean
  added: Record<string, string>
  draft: AddDraft | null
  onAdd: (device: DiscoveredDevice, stream: DiscoveredStream | null, url: string, key: string) => void
  onCancel: () => void
  onDraft: (d: AddDraft) => void
  onAdded: (key: string, id: string) => void
}

function ScanResult({ result, canAct, added, draft, onAdd, onCancel, onDraft, onAdded }: ScanResultProps) {
  const r = result
  return (
    <div className="scan-result">
      <p className="muted small" data-testid="scan-summary">
        {r.devices.length} device{r.devices.length === 1 ? '' : 's'} in {r.seconds.toFixed(1)} s
        {r.interface ? ` · WS-Discovery on ${r.interface}${r.interface_address ? ` (${r.interface_address})` : ''}` : ' · no WS-Discovery'}
        {r.subnet ? ` · swept ${r.subnet} ports ${r.ports.join(', ')} (${formatCount(r.probed)} probes)` : ''}
        {r.complete ? '' : ' · incomplete: the timeout cut the scan short'}
      </p>
      {r.notes.length ? (
        <ul className="notes">
          {r.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      ) : null}
      {r.devices.length === 0 ? (
        <p className="empty muted">Nothing found. Give a subnet to sweep for RTSP ports too, or a longer timeout.</p>
      ) : (
        <div className="table-wrap">
          <table className="grid discovery-grid">
            <thead>
              <tr>
                <th>Address</th>
                <th>Device</th>
                <th>ONVIF</th>
                <th>Streams</th>
                <th>Registered</th>
              </tr>
            </thead>
            <tbody>
              {r.devices.map((d) => (
                <tr key={d.address} data-testid={`device-${d.address}`}>
                  <td className="mono">{d.address}</td>
                  <td>
                    {[d.manufacturer, d.model].filter(Boolean).join(' ') || <span className="muted">unknown</span>}
                    {d.scope_name ? <div className="muted small">{d.scope_name}</div> : null}
                    {d.firmware ? <div className="muted small">firmware {d.firmware}</div> : null}
                  </td>
                  <td>
                    {d.onvif ? (d.onvif_status ?? 'answered') : <span className="muted">no</span>}
                    {d.onvif_error ? <div className="form-error small">{d.onvif_error}</div> : null}
                  </td>
                  <td>
                    <ul className="streams">
                      {d.streams.map((s) => {
                        const key = `${d.address} ${s.profile}`
                        return (
                          <li key={key}>
                            <StreamLine stream={s} />
                            <AddControl
                              testKey={`stream-${d.address}-${s.profile}`}
                              canAct={canAct && !!s.uri && !s.registered_as}
                              addedAs={added[key] ?? s.registered_as}
                              open={draft?.key === key}
                              onOpen={() => onAdd(d, s, s.uri ?? '', key)}
                              draft={draft}
                              onCancel={onCancel}
                              onDraft={onDraft}
                              onAdded={(id) => onAdded(key, id)}
                            />
                            {s.uri ? <div className="mono small muted break">{s.uri}</div> : null}
                          </li>
                        )
                      })}
                      {d.rtsp.map((p) => {
                        const key = `${d.address}:${p.port}`
                        return (
                          <li key={key}>
                            <span className="mono">rtsp port {p.port}</span>{' '}
                            <span className="muted small">
                              {p.access.replace(/_/g, ' ')}
                              {p.server ? ` · ${p.server}` : ''}
                            </span>
                            <AddControl
                              testKey={`port-${d.address}-${p.port}`}
                              canAct={canAct}
                              addedAs={added[key] ?? null}
                              open={draft?.key === key}
                              onOpen={() => onAdd(d, null, `rtsp://${d.address}:${p.port}/`, key)}
                              draft={draft}
                              onCancel={onCancel}
                              onDraft={onDraft}
                              onAdded={(id) => onAdded(key, id)}
                            />
                          </li>
                        )
                      })}
                      {d.streams.length === 0 && d.rtsp.length === 0 ? <li className="muted">no stream found</li> : null}
                    </ul>
                  </td>
                  <td>
                    {d.registered.length ? (
                      d.registered.map((id) => (
                        <a key={id} href={cameraHref(id)} className="tag">
                          {id}
                        </a>
                      ))
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}

function StreamLine({ stream: s }: { stream: DiscoveredStream }) {
  return (
    <>
      <span>{s.name || s.profile}</span> <span className="muted small">{resolution(s)}</span>{' '}
      {s.rtsp_access ? <span className={`access access-${s.rtsp_access}`}>{s.rtsp_access.replace(/_/g, ' ')}</span> : null}
    </>
  )
}

interface AddControlProps {
  /** Names its test hooks: add-KEY, registered-KEY. */
  testKey: string
  canAct: boolean
  addedAs: string | null
  open: boolean
  onOpen: () => void
  draft: AddDraft | null
  onCancel: () => void
  onDraft: (d: AddDraft) => void
  onAdded: (id: string) => void
}

function AddControl({ testKey, canAct, addedAs, open, onOpen, draft, onCancel, onDraft, onAdded }: AddControlProps) {
  if (addedAs) {
    return (
      <span className="small" data-testid={`registered-${testKey}`}>
        {' '}
        registered as <a href={cameraHref(addedAs)}>{addedAs}</a>
      </span>
    )
  }
  if (!canAct) return null
  if (!open || !draft) {
    return (
      <button type="button" className="btn btn-small btn-inline" onClick={onOpen} data-testid={`add-${testKey}`}>
        Add
      </button>
    )
  }
  return <AddForm draft={draft} onCancel={onCancel} onDraft={onDraft} onAdded={onAdded} />
}

function AddForm({ draft, onCancel, onDraft, onAdded }: { draft: AddDraft; onCancel: () => void; onDraft: (d: AddDraft) => void; onAdded: (id: string) => void }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const set = (field: keyof CameraAddBody, value: string) => onDraft({ ...draft, body: { ...draft.body, [field]: value } })
  const b = draft.body

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    const body: CameraAddBody = { id: b.id.trim(), url: b.url.trim() }
    if (b.name?.trim()) body.name = b.name.trim()
    if (b.username) body.username = b.username
    if (b.password) body.password = b.password
    try {
      const cam = await api.addCamera(body)
      onAdded(cam.id)
    } catch (err) {
      setError(errorMessage(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <form className="add-form card" onSubmit={(e) => void submit(e)} data-testid="add-form">
      <label>
        <span>Camera id</span>
        <input value={b.id} onChange={(e) => set('id', e.target.value)} required maxLength={63} data-testid="add-id" />
      </label>
      <label>
        <span>Name</span>
        <input value={b.name ?? ''} onChange={(e) => set('name', e.target.value)} />
      </label>
      <label className="wide">
        <span>RTSP URL</span>
        <input value={b.url} onChange={(e) => set('url', e.target.value)} required className="mono" />
      </label>
      <label>
        <span>Username</span>
        <input value={b.username ?? ''} onChange={(e) => set('username', e.target.value)} autoComplete="off" />
      </label>
      <label>
        <span>Password</span>
        <input type="password" value={b.password ?? ''} onChange={(e) => set('password', e.target.value)} autoComplete="new-password" />
      </label>
      <div className="form-buttons">
        <button type="submit" className="btn btn-primary btn-small" disabled={busy} data-testid="add-submit">
          {busy ? 'Adding…' : 'Add camera'}
        </button>
        <button type="button" className="btn btn-small" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
      {b.url.includes('***') ? <p className="form-error small">The URL has a redacted part (***): put the real value in.</p> : null}
      {error ? (
        <p className="form-error small" role="alert" data-testid="action-result" data-kind="error">
          {error}
        </p>
      ) : (
        <p className="muted small">The camera is added stopped: start it from its page or the table.</p>
      )}
    </form>
  )
}
