import { fireEvent, screen, within } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import type { TargetView } from '../api/types'
import { mockFetch } from '../test/fixtures'
import { loadedController, operator, renderWithSession, viewer } from '../test/render'
import { TargetsPage } from './TargetsPage'

const target = (name: string, active: boolean): TargetView => ({
  name,
  rtsp_url: `rtsp://user:***@${name}.example:8554`,
  api_url: `http://${name}.example:9997`,
  api_enabled: true,
  username: 'user',
  has_password: true,
  api_username: null,
  has_api_password: false,
  max_reconnects: 0,
  reconnect_delay: 1,
  path_template: 'camera_{camera_id}',
  active,
  player_url: null,
})

describe('the targets page', () => {
  it('lists the targets, checks one and shows its problems', async () => {
    mockFetch({
      'GET /api/targets': { total: 2, items: [{ ...target('central', true), player_url: 'http://central.example:8889/' }, target('backup', false)] },
      'POST /api/targets/backup/check': {
        name: 'backup',
        ok: false,
        rtsp_reachable: true,
        api_reachable: false,
        api_version: null,
        api_auth_ok: null,
        problems: ['the API at http://backup.example:9997 did not answer'],
      },
    })
    renderWithSession(<TargetsPage />, operator, loadedController([]))
    // The central's player, a link to open in a new tab; none for a target without one.
    const player = (await screen.findByTestId('player-central')) as HTMLAnchorElement
    expect(player.getAttribute('href')).toBe('http://central.example:8889/')
    expect(player.rel).toBe('noopener noreferrer')
    expect(screen.queryByTestId('player-backup')).toBeNull()
    const row = await screen.findByTestId('target-row-backup')
    expect(row.textContent).toContain('rtsp://user:***@backup.example:8554')
    expect(screen.getByTestId('target-row-central').textContent).toContain('active')
    expect(screen.queryByTestId('activate-central')).toBeNull()
    fireEvent.click(screen.getByTestId('check-backup'))
    const result = await screen.findByTestId('check-result')
    expect(result.dataset.ok).toBe('false')
    expect(result.textContent).toContain('did not answer')
  })

  it("shows an rtsps target's certificate verdict and an SRT target's unprobed port", async () => {
    mockFetch({
      'GET /api/targets': { total: 2, items: [target('central', true), target('backup', false)] },
      'POST /api/targets/central/check': {
        name: 'central', ok: false, rtsp_reachable: true, api_reachable: true, api_version: 'v1.20.1',
        api_auth_ok: true, tls: 'refused',
        problems: ["MediaMTX 192.0.2.7:8322 presented a certificate with SHA-256 ab12, not the pinned 3e1f"],
      },
      'POST /api/targets/backup/check': {
        name: 'backup', ok: true, rtsp_reachable: null, api_reachable: true, api_version: 'v1.20.1',
        api_auth_ok: true, problems: [],
      },
    })
    renderWithSession(<TargetsPage />, operator, loadedController([]))
    fireEvent.click(await screen.findByTestId('check-central'))
    const refused = await within(screen.getByTestId('target-row-central')).findByTestId('check-result')
    expect(refused.textContent).toContain('TLS certificate: refused')
    expect(refused.textContent).toContain('not the pinned 3e1f')
    fireEvent.click(screen.getByTestId('check-backup'))
    const srt = await within(screen.getByTestId('target-row-backup')).findByTestId('check-result')
    expect(srt.textContent).toContain('RTSP reachable: n/a (SRT)')
    expect(srt.textContent).not.toContain('TLS certificate')
  })

  it('a viewer sees the list but no buttons', async () => {
    mockFetch({ 'GET /api/targets': { total: 2, items: [target('central', true), target('backup', false)] } })
    renderWithSession(<TargetsPage />, viewer, loadedController([]))
    await screen.findByTestId('target-row-backup')
    expect(screen.queryByTestId('check-backup')).toBeNull()
    expect(screen.queryByTestId('activate-backup')).toBeNull()
  })
})
