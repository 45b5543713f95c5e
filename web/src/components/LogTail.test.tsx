import { act, render, screen } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { LogEntry, Logs } from '../api/types'
import { appendLines, LogTail, MAX_LOG_LINES } from './LogTail'

const line = (seq: number): LogEntry => ({ seq, at: '2025-01-01T00:00:00Z', text: `frame=${seq}` })
const logs = (seqs: number[], last = seqs[seqs.length - 1] ?? 0): Logs => ({ camera_id: 'c', lines: seqs.map(line), last_seq: last })

afterEach(() => vi.useRealTimers())

describe('the log tail', () => {
  it('appends only new lines and keeps the last 500', () => {
    const have = [line(1), line(2)]
    expect(appendLines(have, logs([2, 3])).map((l) => l.seq)).toEqual([1, 2, 3])
    expect(appendLines(have, logs([]))).toBe(have)
    const many = Array.from({ length: 600 }, (_, i) => i + 1)
    const capped = appendLines([], logs(many))
    expect(capped).toHaveLength(MAX_LOG_LINES)
    expect(capped[0]!.seq).toBe(101)
  })

  it('follows with after=last_seq every 2 s', async () => {
    vi.useFakeTimers()
    const calls: (number | undefined)[] = []
    const answers = [logs([1, 2, 3]), logs([4]), logs([], 4)]
    const api = {
      logs: vi.fn(async (_id: string, _lines: number, after?: number) => {
        calls.push(after)
        return answers.shift() ?? logs([], 4)
      }),
    }
    render(<LogTail cameraId="c" api={api} />)
    await act(async () => {
      await vi.advanceTimersByTimeAsync(0)
    })
    expect(screen.getByTestId('log-tail').dataset.lines).toBe('3')
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2000)
    })
    expect(screen.getByTestId('log-tail').dataset.lines).toBe('4')
    expect(screen.getByTestId('log-tail').textContent).toContain('frame=4')
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2000)
    })
    expect(calls).toEqual([undefined, 3, 4])
  })

  it('starts over when the daemon restarted (its seq went back)', async () => {
    vi.useFakeTimers()
    const answers = [logs([10, 11]), logs([], 2), logs([1, 2])]
    const api = { logs: vi.fn(async () => answers.shift() ?? logs([], 2)) }
    render(<LogTail cameraId="c" api={api} />)
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2000)
    })
    const tail = screen.getByTestId('log-tail')
    expect(tail.dataset.lines).toBe('2')
    expect([...tail.querySelectorAll('.log-line')].map((l) => l.textContent)).toEqual(['00:00:00 frame=1', '00:00:00 frame=2'])
  })
})
