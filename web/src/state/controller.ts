// Keeps the live model current: loads /api/status, /api/cameras and /api/samples when the
// WebSocket opens (and when the daemon comes back) and applies the events. A status event
// carries the camera's whole status, so nothing is fetched after it; only a camera not seen
// before (its name) or an older daemon's event (no status in it) is refetched.
// Nothing here polls.

import { ApiError, api as defaultApi, errorMessage } from '../api/client'
import { connectLive, eventsUrl, type LiveConnection, type LiveOptions } from '../api/live'
import type { LiveEvent, PublicationStatus } from '../api/types'
import { type Action, initialModel, type LiveModel, reduce, wholeStatus } from './live'
import { Store } from './store'

export type Api = Pick<typeof defaultApi, 'status' | 'cameras' | 'camera' | 'samples'>

export interface ControllerDeps {
  api?: Api
  connect?: (opts: LiveOptions) => LiveConnection
  url?: string
  now?: () => number
  onUnauthorized?: () => void
  /** How long status events are gathered before their cameras are refetched. */
  refetchDelayMs?: number
}

/** Above this many cameras to refetch at once, one /api/status is cheaper. */
const REFETCH_ONE_BY_ONE = 5

export function isDaemonDown(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 502 || err.status === 503)
}

export class LiveController {
  readonly store = new Store<LiveModel, Action>(reduce, initialModel)
  private readonly api: Api
  private readonly connect: (opts: LiveOptions) => LiveConnection
  private readonly url: string | undefined
  private readonly now: () => number
  private readonly onUnauthorized: () => void
  private readonly refetchDelayMs: number
  private live: LiveConnection | null = null
  private pending = new Set<string>()
  private timer: ReturnType<typeof setTimeout> | null = null
  private loading: Promise<void> | null = null
  private loadAgain = false
  private stopped = false

  constructor(deps: ControllerDeps = {}) {
    this.api = deps.api ?? defaultApi
    this.connect = deps.connect ?? connectLive
    this.url = deps.url
    this.now = deps.now ?? Date.now
    this.onUnauthorized = deps.onUnauthorized ?? (() => {})
    this.refetchDelayMs = deps.refetchDelayMs ?? 400
  }

  start(): void {
    this.stopped = false
    this.live = this.connect({
      url: this.url ?? eventsUrl(),
      onEvent: (ev) => this.onEvent(ev),
      onOpen: () => void this.load(),
      onState: (state) => this.store.dispatch({ type: 'connection', state }),
      onUnauthorized: () => this.onUnauthorized(),
    })
    // Show what there is at once, even before the socket opens (or if it never does).
    void this.load()
  }

  stop(): void {
    this.stopped = true
    this.live?.close()
    this.live = null
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.pending.clear()
    this.store.dispatch({ type: 'reset' })
  }

  /** Status, names and samples; a load asked for while one runs runs once more after it. */
  load(): Promise<void> {
    if (this.loading) {
      this.loadAgain = true
      return this.loading
    }
    const run = async () => {
      do {
        this.loadAgain = false
        await Promise.all([this.loadStatus(), this.loadViews(), this.loadSamples()])
      } while (this.loadAgain && !this.stopped)
    }
    this.loading = run().finally(() => {
      this.loading = null
    })
    return this.loading
  }

  private async loadStatus(): Promise<void> {
    const since = this.store.getState().eventCounter
    try {
      const list = await this.api.status()
      if (this.stopped) return
      this.store.dispatch({ type: 'statusList', items: list.items, since, now: this.now() })
    } catch (err) {
      if (this.stopped) return
      if (isDaemonDown(err)) this.store.dispatch({ type: 'daemonUp', up: false })
      this.store.dispatch({ type: 'loadError', message: errorMessage(err) })
    }
  }

  private async loadViews(): Promise<void> {
    try {
      const list = await this.api.cameras()
      if (!this.stopped) this.store.dispatch({ type: 'cameraViews', items: list.items })
    } catch {
      // names are a nicety; the status says what matters
    }
  }

  private async loadSamples(): Promise<void> {
    try {
      const data = await this.api.samples(600)
      if (!this.stopped) this.store.dispatch({ type: 'samples', data, now: this.now() })
    } catch {
      // sparklines fill from the live events
    }
  }

  onEvent(ev: LiveEvent): void {
    if (this.stopped) return
    const before = this.store.getState()
    const known = ev.type !== 'daemon' && ev.camera_id in before.cameras
    this.store.dispatch({ type: 'event', event: ev, now: this.now() })
    if (ev.type === 'daemon') {
      if (ev.up) void this.load()
      return
    }
    // An older daemon's status event: the retry timer and counters it lacks. A camera not
    // seen yet: its name (before the first load, that load brings it).
    const lacking = ev.type === 'status' && wholeStatus(ev) === null
    if (lacking || (!known && before.loaded)) this.refetch(ev.camera_id)
  }

  /** Refetch a camera soon (events that come together share the requests). */
  refetch(id: string): void {
    this.pending.add(id)
    if (this.timer !== null) return
    this.timer = setTimeout(() => {
      this.timer = null
      void this.flush()
    }, this.refetchDelayMs)
  }

  private async flush(): Promise<void> {
    const ids = [...this.pending]
    this.pending.clear()
    if (ids.length === 0 || this.stopped) return
    if (ids.length > REFETCH_ONE_BY_ONE) {
      await this.load()
      return
    }
    await Promise.all(ids.map((id) => this.refreshCamera(id)))
  }

  /** One camera's status and view, e.g. on its page or after a status event. */
  async refreshCamera(id: string): Promise<void> {
    const since = this.store.getState().eventCounter
    try {
      const detail = await this.api.camera(id)
      if (this.stopped) return
      this.store.dispatch({ type: 'cameraStatus', status: detail.status, since, now: this.now() })
      this.store.dispatch({ type: 'cameraView', item: detail.camera })
    } catch (err) {
      if (this.stopped) return
      if (err instanceof ApiError && err.status === 404) void this.load() // removed
      else if (isDaemonDown(err)) this.store.dispatch({ type: 'daemonUp', up: false })
    }
  }

  /** An action's answer: the status after it. */
  applyStatus(status: PublicationStatus, since: number): void {
    this.store.dispatch({ type: 'cameraStatus', status, since, now: this.now() })
  }
}
