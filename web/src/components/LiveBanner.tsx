import { useSession } from '../context'
import { useStore } from '../state/store'

/** Says when what is shown may be stale: the WebSocket is down, or the daemon is. */
export function LiveBanner() {
  const { controller } = useSession()
  const m = useStore(controller.store)
  const lines: { text: string; bad: boolean }[] = []
  if (m.connection === 'lost') lines.push({ text: 'live updates lost, reconnecting…', bad: false })
  else if (m.connection === 'busy') {
    lines.push({ text: 'live updates refused: ucvd-web serves too many live dashboards; retrying…', bad: false })
  } else if (m.connection === 'forbidden') {
    lines.push({ text: 'live updates refused by ucvd-web (forbidden): reload the page', bad: true })
  }
  if (!m.daemonUp) {
    lines.push({ text: 'ucvd is down or not answering: what is shown is its last known state', bad: true })
  } else if (m.loadError && !m.loaded) {
    lines.push({ text: `could not load the cameras: ${m.loadError}`, bad: true })
  }
  if (lines.length === 0) return null
  const bad = lines.some((l) => l.bad)
  return (
    <div
      className={`banner ${bad ? 'banner-bad' : 'banner-warn'}`}
      role="alert"
      data-testid="live-banner"
      data-connection={m.connection}
      data-daemon-up={String(m.daemonUp)}
    >
      {lines.map((l) => (
        <div key={l.text} className="banner-line">
          {l.text}
        </div>
      ))}
    </div>
  )
}
