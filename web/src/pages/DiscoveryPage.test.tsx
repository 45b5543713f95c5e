import { fireEvent, screen } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import type { DiscoveredDevice, DiscoveryResult } from '../api/types'
import { apiError, json, mockFetch } from '../test/fixtures'
import { loadedController, operator, renderWithSession, viewer } from '../test/render'
import { DiscoveryPage, suggestId } from './DiscoveryPage'

const device = (over: Partial<DiscoveredDevice> = {}): DiscoveredDevice => ({
  address: '192.0.2.10',
  onvif: true,
  endpoint: 'urn:uuid:1',
  xaddrs: [],
  scope_name: 'Front Door',
  manufacturer: 'Acme',
  model: 'Cam 3000',
  firmware: '1.0',
  onvif_status: 'ok',
  onvif_error: null,
  streams: [
    { profile: 'Profile_1', name: 'main', uri: 'rtsp://192.0.2.10:554/main', encoding: 'H264', width: 1920, height: 1080, rtsp_access: 'needs_credentials', registered_as: null },
  ],
  rtsp: [],
  registered: [],
  ...over,
})

const result = (devices: DiscoveredDevice[]): DiscoveryResult => ({
  interface: 'eth0',
  interface_address: '192.0.2.1',
  subnet: null,
  ports: [554, 8554],
  timeout: 5,
  seconds: 4.2,
  complete: true,
  probed: 0,
  devices,
  added: [],
  notes: [],
})

describe('discovery', () => {
  it('suggests a valid camera id', () => {
    expect(suggestId({ scope_name: 'Front Door', address: '192.0.2.10' })).toBe('front-door')
    expect(suggestId({ scope_name: null, address: '192.0.2.10' })).toBe('192-0-2-10')
    expect(suggestId({ scope_name: 'Caméra Nord', address: 'x' })).toBe('camera-nord')
    expect(suggestId({ scope_name: 'Gate', address: 'x' }, { profile: 'Profile_2' }, true)).toBe('gate-profile-2')
    expect(suggestId({ scope_name: '***', address: '' })).toBe('camera')
    expect(suggestId({ scope_name: 'x'.repeat(100), address: '' })).toHaveLength(63)
  })

  it('scans, shows the devices, and adds a stream as a camera', async () => {
    let added: unknown = null
    const fetch = mockFetch({
      'POST /api/discovery/scan': json(result([device()])),
      'POST /api/cameras': (init: RequestInit) => {
        added = JSON.parse(String(init.body))
        return json({ id: 'front-door', url: 'rtsp://192.0.2.10:554/main', username: 'admin', has_password: true, name: 'Front Door', options: {}, desired: 'stopped' })
      },
    })
    renderWithSession(<DiscoveryPage />, operator, loadedController([]))
    fireEvent.change(screen.getByTestId('scan-timeout'), { target: { value: '3' } })
    fireEvent.change(screen.getByTestId('scan-username'), { target: { value: 'admin' } })
    fireEvent.change(screen.getByTestId('scan-password'), { target: { value: 's3cret' } })
    fireEvent.click(screen.getByTestId('scan-submit'))
    expect(screen.getByTestId('scan-progress').textContent).toContain('scanning… up to 3 s')
    const row = await screen.findByTestId('device-192.0.2.10')
    expect(row.textContent).toContain('Acme Cam 3000')
    expect(row.textContent).toContain('1920×1080 H264')
    expect(row.textContent).toContain('needs credentials')
    expect(JSON.parse(String(fetch.mock.calls[0]![1]!.body))).toEqual({ timeout: 3, username: 'admin', password: 's3cret' })

    // The scan's credentials are the new camera's too, unless changed in the form.
    fireEvent.click(screen.getByTestId('add-stream-192.0.2.10-Profile_1'))
    expect((screen.getByTestId('add-id') as HTMLInputElement).value).toBe('front-door')
    fireEvent.click(screen.getByTestId('add-submit'))
    expect((await screen.findByTestId('registered-stream-192.0.2.10-Profile_1')).textContent).toContain('front-door')
    expect(screen.queryByTestId('add-stream-192.0.2.10-Profile_1')).toBeNull()
    expect(added).toEqual({ id: 'front-door', url: 'rtsp://192.0.2.10:554/main', name: 'Front Door', username: 'admin', password: 's3cret' })
  })

  it("shows the add's refusal", async () => {
    mockFetch({
      'POST /api/discovery/scan': json(result([device()])),
      'POST /api/cameras': () => apiError(400, 'invalid_params', "camera id 'x y' is invalid"),
    })
    renderWithSession(<DiscoveryPage />, operator, loadedController([]))
    fireEvent.click(screen.getByTestId('scan-submit'))
    fireEvent.click(await screen.findByRole('button', { name: 'Add' }))
    fireEvent.click(screen.getByTestId('add-submit'))
    expect((await screen.findByTestId('action-result')).textContent).toBe("camera id 'x y' is invalid")
  })

  it('a viewer cannot scan', () => {
    renderWithSession(<DiscoveryPage />, viewer, loadedController([]))
    expect((screen.getByTestId('scan-submit') as HTMLButtonElement).disabled).toBe(true)
  })
})
