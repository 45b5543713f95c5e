import { act, fireEvent, screen } from '@testing-library/react'
import { render } from '@testing-library/react'
import { beforeEach, describe, expect, it } from 'vitest'
import { connectLive } from './api/live'
import { App } from './App'
import { LiveController } from './state/controller'
import { apiError, FakeSocket, FakeWebSocket, mockFetch, status } from './test/fixtures'

const makeController = (onUnauthorized: () => void) =>
  new LiveController({
    onUnauthorized,
    url: 'ws://dash.test/api/events',
    connect: (opts) => connectLive({ ...opts, WebSocketImpl: FakeWebSocket }),
  })

function backend(me: { name: string; kind: string } | null) {
  let session = me
  return mockFetch({
    'GET /api/me': () => (session ? new Response(JSON.stringify(session)) : apiError(401, 'unauthorized', 'no session')),
    'POST /api/session': (init: RequestInit) => {
      const { token } = JSON.parse(String(init.body)) as { token: string }
      if (token !== 'good') return apiError(401, 'unauthorized', 'invalid token')
      session = { name: 'alice', kind: 'operator' }
      return new Response(JSON.stringify(session))
    },
    'DELETE /api/session': () => {
      session = null
      return new Response(null, { status: 204 })
    },
    'GET /api/status': { total: 2, active: 1, items: [status('cam-1'), status('cam-2', { status: 'failed', uptime_seconds: null, metrics: null })] },
    'GET /api/cameras': { total: 0, items: [] },
    'GET /api/samples': { seconds: 600, cameras: {} },
    'GET /api/info': () => apiError(503, 'daemon_unavailable', 'down'),
  })
}

beforeEach(() => FakeSocket.reset())

describe('<App>', () => {
  it('without a session: the login page; a good token: the cameras', async () => {
    window.location.hash = '#/cameras/cam-2'
    backend(null)
    render(<App makeController={makeController} />)
    expect(await screen.findByTestId('login-token')).toBeTruthy()
    expect(window.location.hash).toBe('#/login')
    fireEvent.change(screen.getByTestId('login-token'), { target: { value: 'good' } })
    fireEvent.click(screen.getByTestId('login-submit'))
    // back where the user was going
    expect(await screen.findByTestId('why')).toBeTruthy()
    expect(window.location.hash).toBe('#/cameras/cam-2')
    expect(screen.getByTestId('user').textContent).toBe('alice')
  })

  it('a viewer is marked read-only; the socket going away shows the banner', async () => {
    backend({ name: 'wall', kind: 'viewer' })
    render(<App makeController={makeController} />)
    expect(await screen.findByTestId('camera-row-cam-2')).toBeTruthy()
    expect(screen.getByTestId('read-only-badge').textContent).toBe('read-only')
    expect(screen.queryByTestId('live-banner')).toBeNull()
    act(() => FakeSocket.last().open())
    act(() => FakeSocket.last().message({ type: 'daemon', up: false }))
    expect(screen.getByTestId('live-banner').textContent).toContain('ucvd is down')
    act(() => FakeSocket.last().serverClose(1006))
    const lines = [...screen.getByTestId('live-banner').querySelectorAll('.banner-line')].map((l) => l.textContent)
    expect(lines).toEqual(['live updates lost, reconnecting…', 'ucvd is down or not answering: what is shown is its last known state'])
    act(() => FakeSocket.last().message({ type: 'daemon', up: true })) // a message on a dead socket: ignored
    expect(screen.getByTestId('live-banner').querySelectorAll('.banner-line')).toHaveLength(2)
  })

  it('the socket closing with 4401 goes to the login page', async () => {
    backend({ name: 'alice', kind: 'operator' })
    render(<App makeController={makeController} />)
    expect(await screen.findByTestId('camera-row-cam-1')).toBeTruthy()
    act(() => FakeSocket.last().serverClose(4401))
    expect(await screen.findByTestId('login-token')).toBeTruthy()
    expect(FakeSocket.last().closed || FakeSocket.instances.length === 1).toBe(true)
  })

  it('log out', async () => {
    backend({ name: 'alice', kind: 'operator' })
    render(<App makeController={makeController} />)
    fireEvent.click(await screen.findByTestId('logout'))
    expect(await screen.findByTestId('login-token')).toBeTruthy()
  })
})
