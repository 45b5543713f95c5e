import { act, fireEvent, screen, within } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Toasts } from '../components/Toasts'
import { toasts } from '../state/toasts'
import { apiError, lastError, metrics, mockFetch, status } from '../test/fixtures'
import { loadedController, operator, renderWithSession, viewer } from '../test/render'
import { CamerasPage } from './CamerasPage'

afterEach(() => {
  for (const t of toasts.getState()) toasts.dispatch({ type: 'remove', id: t.id })
  vi.useRealTimers()
})

const fleet = () => [
  status('cam-1'),
  status('cam-2', {
    status: 'reconnecting',
    uptime_seconds: null,
    metrics: null,
    retry_in_seconds: 5,
    last_error: lastError({ kind: 'auth_failed', message: 'the camera refused the credentials', hint: 'Check the username and password.' }),
    quality: 'down',
  }),
  status('cam-3', { status: 'stopped', desired: 'stopped', uptime_seconds: null, metrics: null, quality: 'off' }),
  status('cam-10', { status: 'failed', uptime_seconds: null, metrics: null, quality: 'down', last_error: lastError() }),
]

describe('<CamerasPage>', () => {
  it('one row per camera, with its status, numbers, error and hint', () => {
    renderWithSession(<CamerasPage />, operator, loadedController(fleet()))
    const rows = screen.getAllByTestId(/^camera-row-/)
    expect(rows.map((r) => r.dataset.testid)).toEqual(['camera-row-cam-1', 'camera-row-cam-2', 'camera-row-cam-3', 'camera-row-cam-10'])
    const r1 = screen.getByTestId('camera-row-cam-1')
    expect(r1.dataset.status).toBe('publishing')
    expect(r1.textContent).toContain('25.0')
    expect(r1.textContent).toContain('2 Mb/s')
    expect(r1.textContent).toContain('1m 40s')
    const r2 = screen.getByTestId('camera-row-cam-2')
    expect(r2.textContent).toContain('retry in 5 s')
    expect(r2.textContent).toContain('auth_failed')
    expect(r2.textContent).toContain('the camera refused the credentials')
    expect(r2.textContent).toContain('Check the username and password.')
    expect(screen.getByTestId('summary-publishing').textContent).toContain('1')
    expect(screen.getByTestId('summary-failed').textContent).toContain('1')
  })

  it('a viewer sees no action buttons', () => {
    renderWithSession(<CamerasPage />, viewer, loadedController(fleet()))
    expect(screen.queryByTestId('restart-cam-1')).toBeNull()
    expect(screen.queryByTestId('start-cam-3')).toBeNull()
    expect(screen.queryAllByRole('button', { name: /^(Start|Stop|Restart)$/ })).toHaveLength(0)
  })

  it('an operator gets the buttons that make sense', () => {
    renderWithSession(<CamerasPage />, operator, loadedController(fleet()))
    expect((screen.getByTestId('start-cam-3') as HTMLButtonElement).disabled).toBe(false)
    expect((screen.getByTestId('stop-cam-3') as HTMLButtonElement).disabled).toBe(true)
    expect((screen.getByTestId('start-cam-1') as HTMLButtonElement).disabled).toBe(true)
    expect((screen.getByTestId('restart-cam-1') as HTMLButtonElement).disabled).toBe(false)
  })

  it("an action's error message is shown", async () => {
    const fetch = mockFetch({ 'POST /api/cameras/cam-1/restart': () => apiError(409, 'state_changed', 'cam-1 is being stopped by someone else') })
    renderWithSession(
      <>
        <CamerasPage />
        <Toasts />
      </>,
      operator,
      loadedController(fleet()),
    )
    fireEvent.click(screen.getByTestId('restart-cam-1'))
    const result = await screen.findByTestId('action-result')
    expect(result.dataset.kind).toBe('error')
    expect(result.textContent).toContain('cam-1 is being stopped by someone else')
    expect(fetch).toHaveBeenCalledTimes(1)
  })

  it("an action's answer updates the row and says ok", async () => {
    mockFetch({ 'POST /api/cameras/cam-3/start': status('cam-3', { status: 'starting', uptime_seconds: null }) })
    renderWithSession(
      <>
        <CamerasPage />
        <Toasts />
      </>,
      operator,
      loadedController(fleet()),
    )
    fireEvent.click(screen.getByTestId('start-cam-3'))
    const result = await screen.findByTestId('action-result')
    expect(result.dataset.kind).toBe('ok')
    expect(screen.getByTestId('camera-row-cam-3').dataset.status).toBe('starting')
  })

  it('live events change the row (status attribute included)', () => {
    const c = loadedController(fleet())
    renderWithSession(<CamerasPage />, viewer, c)
    act(() => {
      c.onEvent({ type: 'status', camera_id: 'cam-1', old: 'publishing', new: 'failed', error: lastError({ kind: 'codec_unsupported', message: 'H.265 cannot be copied' }), at: '2025-01-01T00:00:00Z' })
    })
    const row = screen.getByTestId('camera-row-cam-1')
    expect(row.dataset.status).toBe('failed')
    expect(row.textContent).toContain('H.265 cannot be copied')
    act(() => {
      c.onEvent({ type: 'metrics', camera_id: 'cam-10', metrics: metrics({ fps: 12.5, bitrate_kbps: 640 }), uptime_seconds: 3, at: new Date().toISOString() })
    })
    expect(screen.getByTestId('camera-row-cam-10').textContent).toContain('640 kb/s')
  })

  it('the retry countdown and the uptime tick locally', () => {
    vi.useFakeTimers({ now: Date.parse('2025-01-01T12:00:00Z') })
    renderWithSession(<CamerasPage />, viewer, loadedController(fleet(), Date.now()))
    expect(screen.getByTestId('camera-row-cam-2').textContent).toContain('retry in 5 s')
    act(() => {
      vi.advanceTimersByTime(3000)
    })
    expect(screen.getByTestId('camera-row-cam-2').textContent).toContain('retry in 2 s')
    expect(screen.getByTestId('camera-row-cam-1').textContent).toContain('1m 43s')
    act(() => {
      vi.advanceTimersByTime(3000)
    })
    expect(screen.getByTestId('camera-row-cam-2').textContent).toContain('retrying…')
  })

  it('filters by text and by status', () => {
    renderWithSession(<CamerasPage />, viewer, loadedController(fleet()))
    fireEvent.change(screen.getByTestId('camera-filter'), { target: { value: 'auth_failed' } })
    expect(screen.getAllByTestId(/^camera-row-/).map((r) => r.dataset.testid)).toEqual(['camera-row-cam-2'])
    fireEvent.change(screen.getByTestId('camera-filter'), { target: { value: '' } })
    fireEvent.click(screen.getByTestId('summary-failed'))
    expect(screen.getAllByTestId(/^camera-row-/).map((r) => r.dataset.testid)).toEqual(['camera-row-cam-10'])
  })

  it('problems first puts the dark cameras on top', () => {
    renderWithSession(<CamerasPage />, viewer, loadedController(fleet()))
    fireEvent.change(screen.getByLabelText('sort cameras'), { target: { value: 'problems' } })
    const ids = screen.getAllByTestId(/^camera-row-/).map((r) => r.dataset.testid)
    expect(ids).toEqual(['camera-row-cam-10', 'camera-row-cam-2', 'camera-row-cam-1', 'camera-row-cam-3'])
  })

  it('says when nothing is registered', () => {
    renderWithSession(<CamerasPage />, viewer, loadedController([]))
    expect(within(document.body).getByText(/No camera is registered/)).toBeTruthy()
  })
})
