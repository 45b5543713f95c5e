import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FakeSocket, FakeWebSocket } from '../test/fixtures'
import { connectLive, type LiveState, nextDelay, parseEvent } from './live'

function start() {
  const events: unknown[] = []
  const states: LiveState[] = []
  const onOpen = vi.fn()
  const onUnauthorized = vi.fn()
  const conn = connectLive({
    url: 'ws://dash.test/api/events',
    WebSocketImpl: FakeWebSocket,
    onEvent: (e) => events.push(e),
    onState: (s) => states.push(s),
    onOpen,
    onUnauthorized,
  })
  return { conn, events, states, onOpen, onUnauthorized }
}

beforeEach(() => {
  FakeSocket.reset()
  vi.useFakeTimers()
})
afterEach(() => vi.useRealTimers())

describe('the events WebSocket', () => {
  it('passes events on and ignores what is not one', () => {
    const t = start()
    FakeSocket.last().open()
    expect(t.onOpen).toHaveBeenCalledTimes(1)
    FakeSocket.last().message({ type: 'daemon', up: false })
    FakeSocket.last().message('not json')
    FakeSocket.last().message({ type: 'status' }) // no camera_id
    FakeSocket.last().message({ type: 'other' })
    expect(t.events).toEqual([{ type: 'daemon', up: false }])
    expect(t.states).toEqual(['connecting', 'open'])
  })

  it('reconnects with a backoff of 1 s doubling to 10 s, reset by a connection that worked', () => {
    const t = start()
    const waits: number[] = []
    for (let i = 0; i < 6; i += 1) {
      const n = FakeSocket.instances.length
      FakeSocket.last().serverClose(1006)
      let waited = 0
      while (FakeSocket.instances.length === n) {
        vi.advanceTimersByTime(100)
        waited += 100
      }
      waits.push(waited)
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 10000, 10000])
    expect(t.states).toContain('lost')
    FakeSocket.last().open()
    expect(t.states[t.states.length - 1]).toBe('open')
    FakeSocket.last().message({ type: 'daemon', up: true })
    FakeSocket.last().serverClose(1001)
    vi.advanceTimersByTime(999)
    const n = FakeSocket.instances.length
    vi.advanceTimersByTime(1)
    expect(FakeSocket.instances.length).toBe(n + 1)
  })

  it('a socket closed right after it opened (1013: the daemon is down) keeps backing off', () => {
    start()
    const waits: number[] = []
    for (let i = 0; i < 4; i += 1) {
      const n = FakeSocket.instances.length
      FakeSocket.last().open()
      FakeSocket.last().serverClose(1013)
      let waited = 0
      while (FakeSocket.instances.length === n) {
        vi.advanceTimersByTime(100)
        waited += 100
      }
      waits.push(waited)
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000])
    // one that stayed open for a while was a good one
    FakeSocket.last().open()
    vi.advanceTimersByTime(10_000)
    FakeSocket.last().serverClose(1006)
    const n = FakeSocket.instances.length
    vi.advanceTimersByTime(1000)
    expect(FakeSocket.instances.length).toBe(n + 1)
  })

  it('4429 (too many dashboards) is retried, and said', () => {
    const t = start()
    FakeSocket.last().serverClose(4429)
    expect(t.states[t.states.length - 1]).toBe('busy')
    vi.advanceTimersByTime(1000)
    expect(FakeSocket.instances).toHaveLength(2)
  })

  it('4401 means the session is gone: login, no reconnect', () => {
    const t = start()
    FakeSocket.last().open()
    FakeSocket.last().serverClose(4401)
    vi.advanceTimersByTime(60_000)
    expect(t.onUnauthorized).toHaveBeenCalledTimes(1)
    expect(FakeSocket.instances).toHaveLength(1)
    expect(t.states[t.states.length - 1]).toBe('unauthorized')
  })

  it('4403 stops too; close() stops for good', () => {
    const t = start()
    FakeSocket.last().serverClose(4403)
    vi.advanceTimersByTime(60_000)
    expect(FakeSocket.instances).toHaveLength(1)
    expect(t.states[t.states.length - 1]).toBe('forbidden')

    const u = start()
    u.conn.close()
    expect(FakeSocket.last().closed).toBe(true)
    vi.advanceTimersByTime(60_000)
    expect(FakeSocket.instances).toHaveLength(2)
  })

  it('helpers', () => {
    expect(nextDelay(1000, 1000, 10000)).toBe(2000)
    expect(nextDelay(8000, 1000, 10000)).toBe(10000)
    expect(parseEvent('{"type":"metrics","camera_id":"a"}')).toEqual({ type: 'metrics', camera_id: 'a' })
    expect(parseEvent('{"type":"daemon","up":"yes"}')).toBeNull()
  })
})
