// The WebSocket /api/events: one connection, reopened with backoff (1 s doubling to 10 s)
// whenever it closes, except when the server says the session is not (or no longer) allowed.

import type { LiveEvent } from './types'

/**
 * connecting: the first attempt is under way;
 * open: events flow;
 * lost: it closed or never opened, and a reconnect is scheduled or under way;
 * busy: closed with 4429 (ucvd-web serves too many live dashboards): retried like lost;
 * unauthorized: closed with 4401 (the session is gone): no reconnect;
 * forbidden: closed with 4403: no reconnect.
 */
export type LiveState = 'connecting' | 'open' | 'lost' | 'busy' | 'unauthorized' | 'forbidden'

export const CLOSE_UNAUTHORIZED = 4401
export const CLOSE_FORBIDDEN = 4403
export const CLOSE_BUSY = 4429
/** A connection that lived this long, or brought a message, was a good one: the backoff
 * starts over. (ucvd-web accepts before it checks, so an open alone proves little: a
 * socket closed at once, e.g. 1013 while the daemon is down, keeps backing off.) */
export const STABLE_MS = 10_000

export interface LiveOptions {
  url: string
  onEvent: (event: LiveEvent) => void
  onOpen: () => void
  onState: (state: LiveState) => void
  onUnauthorized: () => void
  minDelayMs?: number
  maxDelayMs?: number
  now?: () => number
  /** For tests; the browser's by default. */
  WebSocketImpl?: typeof WebSocket
}

export interface LiveConnection {
  close(): void
}

export function eventsUrl(loc: Location = window.location): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${loc.host}/api/events`
}

/** The next delay of the backoff: doubled, within [min, max]. */
export function nextDelay(current: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, current * 2))
}

export function parseEvent(data: unknown): LiveEvent | null {
  if (typeof data !== 'string') return null
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const type = (value as { type?: unknown }).type
  if (type === 'status' || type === 'metrics') {
    if (typeof (value as { camera_id?: unknown }).camera_id !== 'string') return null
    return value as LiveEvent
  }
  if (type === 'daemon' && typeof (value as { up?: unknown }).up === 'boolean') {
    return value as LiveEvent
  }
  return null
}

export function connectLive(opts: LiveOptions): LiveConnection {
  const min = opts.minDelayMs ?? 1000
  const max = opts.maxDelayMs ?? 10_000
  const Impl = opts.WebSocketImpl ?? WebSocket
  const now = opts.now ?? Date.now
  let delay = min
  let socket: WebSocket | null = null
  let timer: ReturnType<typeof setTimeout> | null = null
  let stopped = false
  let state: LiveState = 'connecting'

  const setState = (next: LiveState) => {
    if (next === state) return
    state = next
    opts.onState(next)
  }

  const scheduleReconnect = (why: LiveState = 'lost') => {
    if (stopped || timer !== null) return
    setState(why)
    const wait = delay
    delay = nextDelay(delay, min, max)
    timer = setTimeout(() => {
      timer = null
      open()
    }, wait)
  }

  const open = () => {
    if (stopped) return
    let ws: WebSocket
    try {
      ws = new Impl(opts.url)
    } catch {
      scheduleReconnect()
      return
    }
    socket = ws
    let openedAt: number | null = null
    ws.onopen = () => {
      if (socket !== ws) return
      openedAt = now()
      setState('open')
      opts.onOpen()
    }
    ws.onmessage = (msg: MessageEvent) => {
      if (socket !== ws) return
      delay = min
      const event = parseEvent(msg.data)
      if (event) opts.onEvent(event)
    }
    ws.onclose = (ev: CloseEvent) => {
      if (socket !== ws) return
      socket = null
      if (stopped) return
      if (openedAt !== null && now() - openedAt >= STABLE_MS) delay = min
      if (ev.code === CLOSE_UNAUTHORIZED) {
        stopped = true
        setState('unauthorized')
        opts.onUnauthorized()
        return
      }
      if (ev.code === CLOSE_FORBIDDEN) {
        stopped = true
        setState('forbidden')
        return
      }
      scheduleReconnect(ev.code === CLOSE_BUSY ? 'busy' : 'lost')
    }
    // An error is always followed by a close; the close decides.
    ws.onerror = () => {}
  }

  opts.onState(state)
  open()

  return {
    close() {
      stopped = true
      if (timer !== null) clearTimeout(timer)
      timer = null
      const ws = socket
      socket = null
      if (ws) {
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null
        try {
          ws.close(1000)
        } catch {
          // already closing
        }
      }
    },
  }
}
