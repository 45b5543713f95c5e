import { render } from '@testing-library/react'
import type { ReactElement } from 'react'
import type { Me, PublicationStatus } from '../api/types'
import { SessionContext } from '../context'
import { type Api, LiveController } from '../state/controller'

export const operator: Me = { name: 'alice', kind: 'operator' }
export const viewer: Me = { name: 'wall', kind: 'viewer' }

/** A controller whose store holds these statuses (no socket, no fetch). */
export function loadedController(items: PublicationStatus[], now = Date.now()): LiveController {
  const c = new LiveController({ api: {} as Api })
  c.store.dispatch({ type: 'statusList', items, since: 0, now })
  return c
}

export function renderWithSession(ui: ReactElement, user: Me, controller: LiveController) {
  const session = { user, canAct: user.kind === 'operator', controller }
  return render(<SessionContext.Provider value={session}>{ui}</SessionContext.Provider>)
}
