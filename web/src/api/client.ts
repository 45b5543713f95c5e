// ucvd-web's JSON API: one fetch wrapper (cookie auth, the CSRF header on every non-GET,
// errors as ApiError) and one function per route.

import type {
  CameraAddBody,
  CameraDetail,
  CameraList,
  CameraView,
  DaemonInfo,
  DiscoveryResult,
  History,
  Logs,
  Me,
  PublicationStatus,
  SamplesResponse,
  ScanBody,
  StatusList,
  TargetCheck,
  TargetList,
  TargetView,
} from './types'

export class ApiError extends Error {
  /** HTTP status; 0 when ucvd-web itself did not answer. */
  readonly status: number
  /** The error kind from the body ("unauthorized", "read_only", "daemon_unavailable", ...). */
  readonly kind: string

  constructor(status: number, kind: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.kind = kind
  }
}

let unauthorizedHandler: () => void = () => {}

/** Called on any 401 (but that of a login attempt, which its page shows itself). */
export function setUnauthorizedHandler(handler: () => void): void {
  unauthorizedHandler = handler
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

async function errorFrom(res: Response): Promise<ApiError> {
  let kind = `http_${res.status}`
  let message = `${res.status} ${res.statusText}`.trim()
  try {
    const body: unknown = await res.json()
    const e = (body as { error?: { kind?: unknown; message?: unknown } } | null)?.error
    if (e && typeof e.kind === 'string') kind = e.kind
    if (e && typeof e.message === 'string' && e.message) message = e.message
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, kind, message)
}

/** A fetch with the dashboard's conventions; the raw Response when it is 2xx. */
export async function send(
  method: string,
  path: string,
  body?: unknown,
  accept = 'application/json',
): Promise<Response> {
  const headers: Record<string, string> = { Accept: accept }
  if (method !== 'GET' && method !== 'HEAD') headers['X-Requested-With'] = 'ucvd'
  const init: RequestInit = { method, headers, credentials: 'same-origin' }
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  let res: Response
  try {
    res = await fetch(path, init)
  } catch (err) {
    throw new ApiError(0, 'network', `ucvd-web did not answer (${errorMessage(err)})`)
  }
  if (res.ok) return res
  const error = await errorFrom(res)
  if (res.status === 401 && !(method === 'POST' && path === '/api/session')) unauthorizedHandler()
  throw error
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body)
  if (res.status === 204) return undefined as T
  return (await res.json()) as T
}

const enc = encodeURIComponent

/** What GET /api/cameras/{id}/still.jpg gave: a blob: URL the caller must revoke. */
export interface Still {
  url: string
  source: string | null // "central" | "camera"
  at: string | null // ISO time the frame was taken
}

export const api = {
  login: (token: string) => request<Me>('POST', '/api/session', { token }),
  logout: () => request<void>('DELETE', '/api/session'),
  me: () => request<Me>('GET', '/api/me'),
  info: () => request<DaemonInfo>('GET', '/api/info'),
  status: () => request<StatusList>('GET', '/api/status'),
  cameras: () => request<CameraList>('GET', '/api/cameras'),
  camera: (id: string) => request<CameraDetail>('GET', `/api/cameras/${enc(id)}`),
  history: (id: string, limit = 20) =>
    request<History>('GET', `/api/cameras/${enc(id)}/history?limit=${limit}`),
  logs: (id: string, lines: number, after?: number) =>
    request<Logs>(
      'GET',
      `/api/cameras/${enc(id)}/logs?lines=${lines}` + (after ? `&after=${after}` : ''),
    ),
  samples: (seconds = 600) => request<SamplesResponse>('GET', `/api/samples?seconds=${seconds}`),
  targets: () => request<TargetList>('GET', '/api/targets'),
  start: (id: string) => request<PublicationStatus>('POST', `/api/cameras/${enc(id)}/start`),
  stop: (id: string) => request<PublicationStatus>('POST', `/api/cameras/${enc(id)}/stop`),
  restart: (id: string) => request<PublicationStatus>('POST', `/api/cameras/${enc(id)}/restart`),
  addCamera: (body: CameraAddBody) => request<CameraView>('POST', '/api/cameras', body),
  checkTarget: (name: string) => request<TargetCheck>('POST', `/api/targets/${enc(name)}/check`),
  activateTarget: (name: string) =>
    request<TargetView>('POST', `/api/targets/${enc(name)}/activate`),
  scan: (body: ScanBody) => request<DiscoveryResult>('POST', '/api/discovery/scan', body),
  async still(id: string): Promise<Still> {
    const path = `/api/cameras/${enc(id)}/still.jpg?t=${Date.now()}`
    const res = await send('GET', path, undefined, 'image/jpeg, application/json')
    const blob = await res.blob()
    return {
      url: URL.createObjectURL(blob),
      source: res.headers.get('X-Still-Source'),
      at: res.headers.get('X-Still-At'),
    }
  },
}

export type CameraAction = 'start' | 'stop' | 'restart'
