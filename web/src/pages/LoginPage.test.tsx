import { fireEvent, render, screen } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'
import { apiError, mockFetch } from '../test/fixtures'
import { LoginPage, TOKEN_REFUSED } from './LoginPage'

describe('<LoginPage>', () => {
  it('shows a clear error when the token is refused', async () => {
    const fetch = mockFetch({ 'POST /api/session': () => apiError(401, 'unauthorized', 'invalid token') })
    const onLogin = vi.fn()
    render(<LoginPage onLogin={onLogin} />)
    fireEvent.change(screen.getByTestId('login-token'), { target: { value: ' wrong-token ' } })
    fireEvent.click(screen.getByTestId('login-submit'))
    expect(await screen.findByText(TOKEN_REFUSED)).toBeTruthy()
    expect(TOKEN_REFUSED).toBe('token refused: create one with `ucvctl token create NAME`')
    expect(onLogin).not.toHaveBeenCalled()
    const [, init] = fetch.mock.calls[0]!
    expect(JSON.parse(String(init!.body))).toEqual({ token: 'wrong-token' })
    expect((init!.headers as Record<string, string>)['X-Requested-With']).toBe('ucvd')
  })

  it('signs in with a good token', async () => {
    mockFetch({ 'POST /api/session': { name: 'alice', kind: 'operator' } })
    const onLogin = vi.fn()
    render(<LoginPage onLogin={onLogin} />)
    fireEvent.change(screen.getByTestId('login-token'), { target: { value: 'good' } })
    fireEvent.click(screen.getByTestId('login-submit'))
    await vi.waitFor(() => expect(onLogin).toHaveBeenCalledWith({ name: 'alice', kind: 'operator' }))
  })

  it('shows other failures as they are', async () => {
    mockFetch({ 'POST /api/session': () => apiError(403, 'csrf', 'bad Origin') })
    render(<LoginPage onLogin={vi.fn()} />)
    fireEvent.change(screen.getByTestId('login-token'), { target: { value: 'x' } })
    fireEvent.click(screen.getByTestId('login-submit'))
    expect((await screen.findByTestId('login-error')).textContent).toBe('bad Origin')
  })
})
