import { type FormEvent, useState } from 'react'
import { ApiError, api, errorMessage } from '../api/client'
import type { Me } from '../api/types'

export const TOKEN_REFUSED = 'token refused: create one with `ucvctl token create NAME`'

/** Paste an access token; ucvd-web keeps it in an HttpOnly cookie from then on. */
export function LoginPage({ onLogin }: { onLogin: (me: Me) => void }) {
  const [token, setToken] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const value = token.trim()
    if (!value) {
      setError('paste an access token first')
      return
    }
    setBusy(true)
    setError(null)
    try {
      const me = await api.login(value)
      setToken('')
      onLogin(me)
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? TOKEN_REFUSED : errorMessage(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <section className="page page-login">
      <form className="login card" onSubmit={(e) => void submit(e)}>
        <h1>ucvd</h1>
        <p className="muted">
          Sign in with an access token. An operator creates one with{' '}
          <code>ucvctl token create NAME</code> (add <code>--read-only</code> for a wall display).
        </p>
        <label htmlFor="login-token">Access token</label>
        <input
          id="login-token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          autoFocus
          data-testid="login-token"
          value={token}
          onChange={(e) => setToken(e.target.value)}
        />
        <button type="submit" className="btn btn-primary" data-testid="login-submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error ? (
          <p className="form-error" role="alert" data-testid="login-error">
            {error}
          </p>
        ) : null}
      </form>
    </section>
  )
}
