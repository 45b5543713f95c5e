import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '../api/client'
import { connectLive } from '../api/live'
import { FakeSocket, FakeWebSocket, lastError, status } from '../test/fixtures'
import { type Api, LiveController } from './controller'

function fakeApi(over: Partial<Record<keyof Api, unknown>> = {}) {
  const api = {
    status: vi.fn(async () => ({ total: 2, active: 2, items: [status('a'), status('b')] })),
    cameras: vi.fn(async () => ({ total: 0, items: [] })),
    samples: vi.fn(async () => ({ seconds: 600, cameras: {} })),
    camera: vi.fn(async (id: string) => ({
      camera: { id, url: 'rtsp://x/', username: null, has_password: false, name: '', options: {} as never, desired: 'publishing' as const },
      status: status(id, { status: 'reconnecting', retry_in_seconds: 7, uptime_seconds: null }),
    })),
    ...over,
  }
  return api as unknown as Api & Record<keyof Api, ReturnType<typeof vi.fn>>
}

function controller(api: Api) {
  const onUnauthorized = vi.fn()
  const c = new LiveController({
    api,
    url: 'ws://dash.test/api/events',
    connect: (opts) => connectLive({ ...opts, WebSocketImpl: FakeWebSocket }),
    onUnauthorized,
    refetchDelayMs: 100,
  })
  return { c, onUnauthorized }
}

const flush = () => vi.advanceTimersByTimeAsync(0)

beforeEach(() => {
  FakeSocket.reset()
  vi.useFakeTimers()
})
afterEach(() => vi.useRealTimers())

describe('the live controller', () => {
  it('loads at start and again when the socket opens; no polling', async () => {
    const api = fakeApi()
    const { c } = controller(api)
    c.start()
    await flush()
    expect(api.status).toHaveBeenCalledTimes(1)
    expect(c.store.getState().loaded).toBe(true)
    FakeSocket.last().open()
    await flush()
    expect(api.status).toHaveBeenCalledTimes(2)
    await vi.advanceTimersByTimeAsync(120_000)
    expect(api.status).toHaveBeenCalledTimes(2)
    c.stop()
  })

  it("applies a status event's whole status; nothing is fetched after it", async () => {
    const api = fakeApi()
    const { c } = controller(api)
    c.start()
    FakeSocket.last().open()
    await flush()
    const statusCalls = api.status.mock.calls.length
    const whole = status('a', { status: 'reconnecting', retry_in_seconds: 9, restarts: 2, uptime_seconds: null, metrics: null })
    FakeSocket.last().message({ type: 'status', camera_id: 'a', old: 'publishing', new: 'reconnecting', error: lastError(), at: '2025-01-01T00:00:00Z', status: whole })
    expect(c.store.getState().cameras.a!.status).toEqual(whole)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(api.camera).not.toHaveBeenCalled()
    expect(api.status.mock.calls.length).toBe(statusCalls)
    c.stop()
  })

  it('a camera first heard of in a status event: shown at once, its name fetched once', async () => {
    const api = fakeApi()
    const { c } = controller(api)
    c.start()
    FakeSocket.last().open()
    await flush()
    const whole = status('new-cam', { status: 'starting', uptime_seconds: null })
    FakeSocket.last().message({ type: 'status', camera_id: 'new-cam', old: 'stopped', new: 'starting', error: null, at: '', status: whole })
    expect(c.store.getState().cameras['new-cam']!.status.status).toBe('starting')
    await vi.advanceTimersByTimeAsync(150)
    expect(api.camera).toHaveBeenCalledTimes(1)
    expect(c.store.getState().views['new-cam']).toBeDefined()
    FakeSocket.last().message({ type: 'status', camera_id: 'new-cam', old: 'starting', new: 'publishing', error: null, at: '', status: status('new-cam') })
    await vi.advanceTimersByTimeAsync(150)
    expect(api.camera).toHaveBeenCalledTimes(1)
    c.stop()
  })

  it("an older daemon's status event (no status): applied at once, then refetched for its retry timer", async () => {
    const api = fakeApi()
    const { c } = controller(api)
    c.start()
    FakeSocket.last().open()
    await flush()
    FakeSocket.last().message({ type: 'status', camera_id: 'a', old: 'publishing', new: 'reconnecting', error: lastError(), at: '2025-01-01T00:00:00Z', status: null })
    expect(c.store.getState().cameras.a!.status.status).toBe('reconnecting')
    expect(c.store.getState().cameras.a!.status.retry_in_seconds).toBeNull()
    await vi.advanceTimersByTimeAsync(150)
    expect(api.camera).toHaveBeenCalledWith('a')
    expect(c.store.getState().cameras.a!.status.retry_in_seconds).toBe(7)
    c.stop()
  })

  it("many of an older daemon's status events at once cost one /api/status", async () => {
    const api = fakeApi()
    const { c } = controller(api)
    c.start()
    FakeSocket.last().open()
    await flush()
    const before = api.status.mock.calls.length
    for (let i = 0; i < 8; i += 1) {
      FakeSocket.last().message({ type: 'status', camera_id: `cam-${i}`, old: 'publishing', new: 'reconnecting', error: null, at: '' })
    }
    await vi.advanceTimersByTimeAsync(150)
    expect(api.camera).not.toHaveBeenCalled()
    expect(api.status.mock.calls.length).toBe(before + 1)
    c.stop()
  })

  it('the daemon going down and coming back: banner state, then a reload', async () => {
    const api = fakeApi()
    const { c } = controller(api)
    c.start()
    FakeSocket.last().open()
    await flush()
    const before = api.status.mock.calls.length
    FakeSocket.last().message({ type: 'daemon', up: false })
    expect(c.store.getState().daemonUp).toBe(false)
    FakeSocket.last().message({ type: 'daemon', up: true })
    await flush()
    expect(c.store.getState().daemonUp).toBe(true)
    expect(api.status.mock.calls.length).toBe(before + 1)
    c.stop()
  })

  it('a 503 from /api/status says the daemon is down', async () => {
    const api = fakeApi({ status: vi.fn(async () => Promise.reject(new ApiError(503, 'daemon_unavailable', 'ucvd is not running'))) })
    const { c } = controller(api)
    c.start()
    await flush()
    expect(c.store.getState().daemonUp).toBe(false)
    expect(c.store.getState().loadError).toBe('ucvd is not running')
    c.stop()
  })

  it('metrics of a camera not seen yet: fetched once loaded, left to the load before', async () => {
    const api = fakeApi()
    const { c } = controller(api)
    c.start()
    FakeSocket.last().open()
    const metricsOf = (id: string) => ({ type: 'metrics', camera_id: id, metrics: status(id).metrics, uptime_seconds: 1, at: new Date().toISOString() })
    FakeSocket.last().message(metricsOf('early')) // before /api/status answered
    await vi.advanceTimersByTimeAsync(150)
    expect(api.camera).not.toHaveBeenCalled()
    FakeSocket.last().message(metricsOf('new-cam'))
    await vi.advanceTimersByTimeAsync(150)
    expect(api.camera).toHaveBeenCalledWith('new-cam')
    expect(c.store.getState().cameras['new-cam']).toBeDefined()
    c.stop()
  })

  it('the socket closing with 4401 signs out', async () => {
    const { c, onUnauthorized } = controller(fakeApi())
    c.start()
    FakeSocket.last().serverClose(4401)
    expect(onUnauthorized).toHaveBeenCalled()
    c.stop()
  })
})
