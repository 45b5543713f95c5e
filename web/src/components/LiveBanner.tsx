import { useSession } from '../context'
import { useStore } from '../state/store'

/** Says when what is shown may be stale: the WebSocket is down, or the daemon is. */
export function LiveBanner() {
  const { controller } = useSession()
  const m = useStore(controller.store)
  let text: string | null = null
  let kind = 'warn'
  if (m.connection === 'lost') text = 'live updates lost, reconnecting…'
  else if (m.connection === 'forbidden') {
    text = 'Live updates refused by ucvd-web (forbidden): reload the page.'
    kind = 'bad'
  } else if (!m.daemonUp) {
    text = 'ucvd is down or not answering: what is shown is its last known state.'
    kind = 'bad'
  } else if (m.loadError && !m.loaded) {
    text = `Could not load the cameras: ${m.loadError}`
    kind = 'bad'
  }
  if (!text) return null
  return (
    <div className={`banner banner-${kind}`} role="alert" data-testid="live-banner" data-connection={m.connection} data-daemon-up={String(m.daemonUp)}>
      {text}
    </div>
  )
}
