import { render } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import { formatFps } from '../state/format'
import { Sparkline } from './Sparkline'

describe('<Sparkline>', () => {
  it('renders a path of the last 10 minutes only', () => {
    const now = 10_000
    const samples = [
      { at: now - 900, fps: 99, bitrate_kbps: 1 }, // 15 min ago: out
      { at: now - 300, fps: 20, bitrate_kbps: 1 },
      { at: now - 298, fps: 25, bitrate_kbps: 1 },
    ]
    const { container } = render(<Sparkline samples={samples} field="fps" nowSec={now} label="fps" format={formatFps} width={100} height={20} />)
    const svg = container.querySelector('svg')!
    expect(svg.getAttribute('data-points')).toBe('2')
    const d = container.querySelector('path.spark-line')!.getAttribute('d')!
    expect(d).toMatch(/^M50 \S+ L50\.3 /)
    // the latest value is marked where the line ends
    const tip = d.split(' ').slice(-2).join(' ').replace(/^L/, '')
    expect(container.querySelector('path.spark-dot')!.getAttribute('d')).toBe(`M${tip} h0`)
    expect(svg.getAttribute('aria-label')).toContain('now 25.0, peak 25.0')
  })

  it('says when there is no data', () => {
    const { container } = render(<Sparkline samples={undefined} field="fps" nowSec={1} label="fps" format={formatFps} />)
    expect(container.querySelector('path')).toBeNull() // neither line nor dot
    expect(container.querySelector('svg')!.getAttribute('aria-label')).toBe('fps: no data in the last 10 min')
  })
})
