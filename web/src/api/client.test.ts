import { afterEach, describe, expect, it, vi } from 'vitest'
import { apiError, json, mockFetch, status } from '../test/fixtures'
import { ApiError, api, setUnauthorizedHandler } from './client'

afterEach(() => setUnauthorizedHandler(() => {}))

describe('the API client', () => {
  it('sends the CSRF header and the cookie on actions, not the header on reads', async () => {
    const fetch = mockFetch({ 'POST /api/cameras/cam%201/restart': status('cam 1'), 'GET /api/status': { total: 0, active: 0, items: [] } })
    await api.restart('cam 1')
    await api.status()
    const [, post] = fetch.mock.calls[0]!
    expect(post!.method).toBe('POST')
    expect(post!.credentials).toBe('same-origin')
    expect((post!.headers as Record<string, string>)['X-Requested-With']).toBe('ucvd')
    const [, get] = fetch.mock.calls[1]!
    expect(get!.credentials).toBe('same-origin')
    expect((get!.headers as Record<string, string>)['X-Requested-With']).toBeUndefined()
  })

  it('turns an error body into an ApiError with its kind and message', async () => {
    mockFetch({ 'POST /api/cameras/c/start': () => apiError(409, 'state_changed', 'the camera is being stopped') })
    const err = await api.start('c').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).status).toBe(409)
    expect((err as ApiError).kind).toBe('state_changed')
    expect((err as ApiError).message).toBe('the camera is being stopped')
  })

  it('a 401 anywhere calls the handler, but not a refused login', async () => {
    const handler = vi.fn()
    setUnauthorizedHandler(handler)
    mockFetch({
      'GET /api/status': () => apiError(401, 'unauthorized', 'no session'),
      'POST /api/session': () => apiError(401, 'unauthorized', 'bad token'),
    })
    await expect(api.status()).rejects.toThrow('no session')
    expect(handler).toHaveBeenCalledTimes(1)
    await expect(api.login('x')).rejects.toThrow('bad token')
    expect(handler).toHaveBeenCalledTimes(1)
  })

  it('says when ucvd-web does not answer, or answers no JSON', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))))
    await expect(api.me()).rejects.toMatchObject({ status: 0, kind: 'network' })
    vi.stubGlobal('fetch', vi.fn(async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })))
    await expect(api.me()).rejects.toMatchObject({ status: 502, message: '502 Bad Gateway' })
  })

  it('the log query follows with after=', async () => {
    const fetch = mockFetch({ 'GET /api/cameras/c/logs': json({ camera_id: 'c', lines: [], last_seq: 0 }) })
    await api.logs('c', 200)
    await api.logs('c', 200, 42)
    expect(String(fetch.mock.calls[0]![0])).toBe('/api/cameras/c/logs?lines=200')
    expect(String(fetch.mock.calls[1]![0])).toBe('/api/cameras/c/logs?lines=200&after=42')
  })
})
