import { screen } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'
import type { PublicationStatus, TargetView } from '../api/types'
import { apiError, lastError, metrics, mockFetch, status } from '../test/fixtures'
import { loadedController, operator, renderWithSession, viewer } from '../test/render'
import { stillErrorText } from '../components/StillPicture'
import { CameraPage, playerLink } from './CameraPage'

const target = (over: Partial<TargetView> = {}): TargetView => ({
  name: 'central',
  rtsp_url: 'rtsp://central.example:8554',
  api_url: null,
  api_enabled: true,
  username: null,
  has_password: false,
  api_username: null,
  has_api_password: false,
  max_reconnects: 0,
  reconnect_delay: 1,
  path_template: 'camera_{camera_id}',
  active: true,
  player_url: 'http://central.example:8889/',
  ...over,
})

const dark = status('cam-1', {
  status: 'reconnecting',
  uptime_seconds: null,
  metrics: null,
  retry_in_seconds: null,
  waiting_for_target: true,
  last_error: lastError({ kind: 'mediamtx_unreachable', message: 'central did not answer', hint: 'Check the link to the central server.' }),
})

function backend(stillResponse: () => Response, current: PublicationStatus = dark) {
  return mockFetch({
    'GET /api/cameras/cam-1': {
      camera: { id: 'cam-1', url: 'rtsp://192.0.2.10/main', username: 'admin', has_password: true, name: 'Gate', options: { audio: true, transport: 'tcp', genpts: false, wallclock_timestamps: false, avoid_negative_ts: false, max_reconnects: null }, desired: 'publishing' },
      status: current,
    },
    'GET /api/targets': { total: 1, items: [target()] },
    'GET /api/cameras/cam-1/history': {
      camera_id: 'cam-1',
      items: [{ camera_id: 'cam-1', target: 'central', started_at: '2025-01-01T10:00:00Z', ended_at: '2025-01-01T13:12:00Z', end_reason: 'failed', error_kind: 'mediamtx_unreachable', error_message: 'central did not answer', restarts: 2, frames: 123456, bytes: 2_500_000_000 }],
    },
    'GET /api/cameras/cam-1/logs': { camera_id: 'cam-1', lines: [{ seq: 1, at: '2025-01-01T13:12:00Z', text: 'Connection refused' }], last_seq: 1 },
    'GET /api/cameras/cam-1/still.jpg': stillResponse,
  })
}

describe('the still picture', () => {
  it('says a failure once', () => {
    expect(stillErrorText('no picture of cam-1: camera: rtsp://192.0.2.10/: Connection refused')).toBe(
      'No picture of cam-1: camera: rtsp://192.0.2.10/: Connection refused',
    )
    expect(stillErrorText('Failed to fetch')).toBe('No picture: Failed to fetch')
  })
})

describe('the camera page', () => {
  it('builds the player link from player_url and publish_path', () => {
    expect(playerLink(target(), 'camera_cam-1')).toBe('http://central.example:8889/camera_cam-1/')
    expect(playerLink(target({ player_url: 'http://c:8889' }), '/camera_x')).toBe('http://c:8889/camera_x/')
    expect(playerLink(target({ player_url: null }), 'camera_x')).toBeNull()
    expect(playerLink(target(), null)).toBeNull()
  })

  it('says why it is dark, links the player, shows the log and the sessions', async () => {
    backend(() => apiError(502, 'still_failed', 'FFmpeg got no frame from the camera'))
    renderWithSession(<CameraPage id="cam-1" />, operator, loadedController([dark]))
    const why = screen.getByTestId('why')
    expect(why.dataset.status).toBe('reconnecting')
    expect(why.textContent).toContain('waiting for target')
    expect(why.textContent).toContain('mediamtx_unreachable')
    expect(why.textContent).toContain('central did not answer')
    expect(why.textContent).toContain('Check the link to the central server.')
    expect(screen.getByTestId('restart-cam-1')).toBeTruthy()

    const link = (await screen.findByTestId('player-link')) as HTMLAnchorElement
    expect(link.getAttribute('href')).toBe('http://central.example:8889/camera_cam-1/')
    expect(link.target).toBe('_blank')
    expect(link.rel).toBe('noopener noreferrer')

    expect((await screen.findByTestId('still-error')).textContent).toContain('FFmpeg got no frame from the camera')
    expect(screen.queryByTestId('still-image')).toBeNull()
    await vi.waitFor(() => expect(screen.getByTestId('log-tail').textContent).toContain('Connection refused'))
    const history = await screen.findByTestId('history')
    expect(history.textContent).toContain('3h 12m')
    expect(history.textContent).toContain('2.5 GB')
    expect(history.textContent).toContain('123,456')
  })

  it('shows the picture with its source and time', async () => {
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: () => 'blob:still-1', revokeObjectURL: () => {} }))
    backend(() => new Response(new Blob(['jpeg']), { headers: { 'Content-Type': 'image/jpeg', 'X-Still-Source': 'central', 'X-Still-At': '2025-01-01T13:12:05Z' } }))
    renderWithSession(<CameraPage id="cam-1" />, viewer, loadedController([dark]))
    const img = (await screen.findByTestId('still-image')) as HTMLImageElement
    expect(img.getAttribute('src')).toBe('blob:still-1')
    expect(screen.getByTestId('still-meta').textContent).toContain('from central · 13:12:05')
    expect(screen.queryByTestId('restart-cam-1')).toBeNull() // viewer
  })

  it('says how the audio is handled and why', async () => {
    const live = status('cam-1', {
      audio: { mode: 'aac', policy: 'copy', codec: 'pcm_mulaw', reason: 'SRT cannot carry G.711', summary: 'aac (auto: SRT cannot carry G.711 µ-law (pcm_mulaw))' },
    })
    backend(() => apiError(502, 'still_failed', 'no frame'), live)
    renderWithSession(<CameraPage id="cam-1" />, viewer, loadedController([live]))
    const audio = await screen.findByTestId('audio')
    expect(audio.textContent).toBe('aac (auto: SRT cannot carry G.711 µ-law (pcm_mulaw)) · camera sends pcm_mulaw')
  })

  it('says when the central has the path but no picture yet', async () => {
    const waiting = status('cam-1', { uptime_seconds: 0.3, metrics: metrics({ frames: 0, fps: null }) })
    backend(() => apiError(502, 'still_failed', 'no frame'), waiting)
    renderWithSession(<CameraPage id="cam-1" />, viewer, loadedController([waiting]))
    const line = await screen.findByTestId('no-picture')
    expect(line.textContent).toBe("waiting for the camera's first keyframe")
    // Not styled as lit: the one look an operator gives the card must not say all is well.
    expect(screen.getByTestId('why').dataset.look).toBe('waiting')
  })

  it('says nothing of the picture once frames flow', async () => {
    const live = status('cam-1', { metrics: metrics({ frames: 1 }) })
    backend(() => apiError(502, 'still_failed', 'no frame'), live)
    renderWithSession(<CameraPage id="cam-1" />, viewer, loadedController([live]))
    await screen.findByText('Readers')
    expect(screen.queryByTestId('no-picture')).toBeNull()
    expect(screen.getByTestId('why').dataset.look).toBe('lit')
    expect(screen.queryByTestId('probe')).toBeNull()
  })

  it('says nothing of the picture before FFmpeg has reported progress', async () => {
    const unknown = status('cam-1', { metrics: metrics({ frames: 0, since_progress_seconds: null }) })
    backend(() => apiError(502, 'still_failed', 'no frame'), unknown)
    renderWithSession(<CameraPage id="cam-1" />, viewer, loadedController([unknown]))
    await screen.findByText('Readers')
    expect(screen.queryByTestId('no-picture')).toBeNull()
    expect(screen.getByTestId('why').dataset.look).toBe('lit')
  })

  it('says when the camera is probed up to its keyframe, and only then', async () => {
    const late = status('cam-1', { probe_to_keyframe: true })
    backend(() => apiError(502, 'still_failed', 'no frame'), late)
    renderWithSession(<CameraPage id="cam-1" />, viewer, loadedController([late]))
    expect((await screen.findByTestId('probe')).textContent).toMatch(/^up to the keyframe \(MediaMTX dropped/)
  })

  it('shows no audio line while FFmpeg is not running', async () => {
    backend(() => apiError(502, 'still_failed', 'no frame'))
    renderWithSession(<CameraPage id="cam-1" />, viewer, loadedController([dark]))
    await screen.findByTestId('why')
    expect(screen.queryByTestId('audio')).toBeNull()
  })
})
