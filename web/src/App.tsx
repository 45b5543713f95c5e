import { useEffect, useMemo, useRef, useState } from 'react'
import { ApiError, api, errorMessage, setUnauthorizedHandler } from './api/client'
import type { DaemonInfo, Me } from './api/types'
import { LiveBanner } from './components/LiveBanner'
import { Toasts } from './components/Toasts'
import { type Session, SessionContext } from './context'
import { CameraPage } from './pages/CameraPage'
import { CamerasPage } from './pages/CamerasPage'
import { DiscoveryPage } from './pages/DiscoveryPage'
import { LoginPage } from './pages/LoginPage'
import { TargetsPage } from './pages/TargetsPage'
import { navigate, parseRoute, type Route, useHash } from './router'
import { LiveController } from './state/controller'
import { showToast } from './state/toasts'

type Auth =
  | { state: 'checking' }
  | { state: 'out' }
  | { state: 'in'; user: Me }
  | { state: 'error'; message: string }

export interface AppProps {
  /** For tests: how the live controller is made. */
  makeController?: (onUnauthorized: () => void) => LiveController
}

const defaultController = (onUnauthorized: () => void) => new LiveController({ onUnauthorized })

export function App({ makeController = defaultController }: AppProps) {
  const route = parseRoute(useHash())
  const [auth, setAuth] = useState<Auth>({ state: 'checking' })
  const [attempt, setAttempt] = useState(0)
  const returnTo = useRef<string | null>(null)

  useEffect(() => {
    setUnauthorizedHandler(() => setAuth({ state: 'out' }))
    return () => setUnauthorizedHandler(() => {})
  }, [])

  useEffect(() => {
    let live = true
    api
      .me()
      .then((user) => live && setAuth({ state: 'in', user }))
      .catch((err: unknown) => {
        if (!live) return
        if (err instanceof ApiError && err.status === 401) setAuth({ state: 'out' })
        else setAuth({ state: 'error', message: errorMessage(err) })
      })
    return () => {
      live = false
    }
  }, [attempt])

  // Signed out: the login page (then back where the user was); signed in: never the login page.
  useEffect(() => {
    if (auth.state === 'out' && route.page !== 'login') {
      returnTo.current = window.location.hash || null
      navigate('#/login')
    } else if (auth.state === 'in' && route.page === 'login') {
      const back = returnTo.current
      returnTo.current = null
      navigate(back && parseRoute(back).page !== 'login' ? back : '#/')
    }
  }, [auth.state, route.page])

  const user = auth.state === 'in' ? auth.user : null
  const [controller, setController] = useState<LiveController | null>(null)
  useEffect(() => {
    if (!user) return
    const c = makeController(() => setAuth({ state: 'out' }))
    c.start()
    setController(c)
    return () => {
      c.stop()
      setController(null)
    }
  }, [user, makeController])

  const session = useMemo<Session | null>(
    () => (user && controller ? { user, canAct: user.kind === 'operator', controller } : null),
    [user, controller],
  )

  if (auth.state === 'checking') return <p className="splash muted">Loading…</p>
  if (auth.state === 'error') {
    return (
      <div className="splash">
        <p className="form-error">ucvd-web did not answer: {auth.message}</p>
        <button type="button" className="btn" onClick={() => setAttempt((n) => n + 1)}>
          Try again
        </button>
      </div>
    )
  }
  if (auth.state === 'out' || route.page === 'login') {
    return (
      <div className="app app-login">
        <LoginPage onLogin={(me) => setAuth({ state: 'in', user: me })} />
      </div>
    )
  }
  if (!session) return <p className="splash muted">Loading…</p>

  const logout = async () => {
    try {
      await api.logout()
      setAuth({ state: 'out' })
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return // already out
      showToast('error', `log out failed: ${errorMessage(err)}`)
    }
  }

  return (
    <SessionContext.Provider value={session}>
      <div className="app">
        <Header route={route} user={session.user} onLogout={() => void logout()} />
        <LiveBanner />
        <main className="main">
          <Page route={route} />
        </main>
        <Toasts />
      </div>
    </SessionContext.Provider>
  )
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'cameras':
      return <CamerasPage />
    case 'camera':
      return <CameraPage id={route.id} key={route.id} />
    case 'targets':
      return <TargetsPage />
    case 'discovery':
      return <DiscoveryPage />
    case 'login':
      return null
    case 'notFound':
      return (
        <p className="empty">
          Nothing at <code>{route.hash}</code>. <a href="#/">Back to the cameras</a>
        </p>
      )
  }
}

function Header({ route, user, onLogout }: { route: Route; user: Me; onLogout: () => void }) {
  const [info, setInfo] = useState<DaemonInfo | null>(null)
  // Renewed on each page change: the active target may have changed.
  useEffect(() => {
    api.info().then(setInfo, () => setInfo(null))
  }, [route.page])
  const link = (hash: string, label: string, active: boolean) => (
    <a href={hash} className={`nav-link${active ? ' nav-on' : ''}`} aria-current={active ? 'page' : undefined}>
      {label}
    </a>
  )
  return (
    <>
      <header className="topbar">
        <a href="#/" className="brand" title={info ? `ucvd ${info.version}, FFmpeg ${info.ffmpeg_version}` : 'ucvd'}>
          ucvd
        </a>
        <nav className="nav">
          {link('#/', 'Cameras', route.page === 'cameras' || route.page === 'camera')}
          {link('#/targets', 'Targets', route.page === 'targets')}
          {link('#/discovery', 'Discovery', route.page === 'discovery')}
        </nav>
        <span className="spacer" />
        {info?.active_target ? (
          <span className="muted topbar-item">
            target <strong>{info.active_target}</strong>
          </span>
        ) : null}
        <span className="topbar-item user" data-testid="user">
          {user.name}
          {user.kind === 'viewer' ? (
            <span className="badge badge-readonly" data-testid="read-only-badge">
              read-only
            </span>
          ) : null}
        </span>
        <button type="button" className="btn btn-small" onClick={onLogout} data-testid="logout">
          Log out
        </button>
      </header>
      {info && info.warnings.length > 0 ? (
        <div className="banner banner-note" role="note">
          {info.warnings.map((w) => (
            <div key={w}>{w}</div>
          ))}
        </div>
      ) : null}
    </>
  )
}
