// Test data and doubles: statuses, a fetch that answers by route, a WebSocket to drive.

import { vi } from 'vitest'
import type { LastError, Metrics, PublicationStatus } from '../api/types'

export function metrics(over: Partial<Metrics> = {}): Metrics {
  return {
    fps: 25,
    frames: 1000,
    speed: 1,
    bitrate_kbps: 2048,
    bytes: 1_000_000,
    tracks: ['h264'],
    readers: 1,
    since_progress_seconds: 0.5,
    ...over,
  }
}

export function lastError(over: Partial<LastError> = {}): LastError {
  return {
    kind: 'connection_failed',
    message: 'camera did not answer on 192.0.2.10:554',
    at: '2025-01-01T12:00:00Z',
    hint: 'Check that the camera is powered and reachable from the gateway.',
    ...over,
  }
}

export function status(id: string, over: Partial<PublicationStatus> = {}): PublicationStatus {
  return {
    camera_id: id,
    status: 'publishing',
    desired: 'publishing',
    publish_path: `camera_${id}`,
    target: 'central',
    uptime_seconds: 100,
    error_count: 0,
    restarts: 0,
    last_error: null,
    metrics: metrics(),
    pid: 1234,
    retry_in_seconds: null,
    waiting_for_target: false,
    quality: 'good',
    reconnects_last_hour: 0,
    stalls_last_hour: 0,
    ...over,
  }
}

export function json(body: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status: init.status ?? 200,
    headers: { 'Content-Type': 'application/json', ...init.headers },
  })
}

export function apiError(status: number, kind: string, message: string): Response {
  return json({ error: { kind, message } }, { status })
}

type Handler = (init: RequestInit, url: URL) => Response | Promise<Response>

/** A fetch mock: routes are "METHOD /path" (without the query); unknown routes 404. */
export function mockFetch(routes: Record<string, Handler | unknown>) {
  const fn = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://dash.test')
    const key = `${init.method ?? 'GET'} ${url.pathname}`
    const route = routes[key]
    if (route === undefined) return apiError(404, 'not_found', `no route ${key}`)
    if (typeof route === 'function') return (route as Handler)(init, url)
    if (route instanceof Response) return route.clone()
    return json(route)
  })
  vi.stubGlobal('fetch', fn)
  return fn
}

/** A WebSocket the test drives: open(), message(), close(). */
export class FakeSocket {
  static instances: FakeSocket[] = []
  static reset() {
    FakeSocket.instances = []
  }
  static last(): FakeSocket {
    const s = FakeSocket.instances[FakeSocket.instances.length - 1]
    if (!s) throw new Error('no socket opened')
    return s
  }

  url: string
  onopen: ((ev: Event) => void) | null = null
  onmessage: ((ev: MessageEvent) => void) | null = null
  onclose: ((ev: CloseEvent) => void) | null = null
  onerror: ((ev: Event) => void) | null = null
  closed = false

  constructor(url: string) {
    this.url = url
    FakeSocket.instances.push(this)
  }
  open() {
    this.onopen?.(new Event('open'))
  }
  message(data: unknown) {
    this.onmessage?.(new MessageEvent('message', { data: typeof data === 'string' ? data : JSON.stringify(data) }))
  }
  serverClose(code = 1006) {
    this.onclose?.(new CloseEvent('close', { code }))
  }
  close() {
    this.closed = true
  }
}

export const FakeWebSocket = FakeSocket as unknown as typeof WebSocket
