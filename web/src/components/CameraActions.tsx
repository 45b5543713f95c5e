import { useState } from 'react'
import { api, type CameraAction, errorMessage } from '../api/client'
import type { PublicationStatus } from '../api/types'
import { useSession } from '../context'
import { availableActions } from '../state/status'
import { showToast } from '../state/toasts'

const LABEL: Record<CameraAction, string> = { start: 'Start', stop: 'Stop', restart: 'Restart' }
const ACTIONS: CameraAction[] = ['start', 'stop', 'restart']

/** Start / Stop / Restart for an operator; nothing for a viewer. The result is a toast. */
export function CameraActions({ status }: { status: PublicationStatus }) {
  const { canAct, controller } = useSession()
  const [pending, setPending] = useState<CameraAction | null>(null)
  if (!canAct) return null
  const id = status.camera_id
  const can = availableActions(status)

  const run = async (action: CameraAction) => {
    setPending(action)
    const since = controller.store.getState().eventCounter
    try {
      const after = await api[action](id)
      controller.applyStatus(after, since)
      showToast('ok', `${id}: ${action} done, now ${after.status}`)
    } catch (err) {
      // The daemon's messages often name the camera already.
      const msg = errorMessage(err)
      const why = msg.startsWith(`${id}: `) ? msg.slice(id.length + 2) : msg
      showToast('error', `${id}: ${action} failed: ${why}`)
    } finally {
      setPending(null)
    }
  }

  return (
    <span className="actions">
      {ACTIONS.map((action) => (
        <button
          key={action}
          type="button"
          className={`btn btn-small btn-${action}`}
          data-testid={`${action}-${id}`}
          disabled={pending !== null || !can[action]}
          aria-busy={pending === action}
          onClick={() => void run(action)}
        >
          {pending === action ? `${LABEL[action]}…` : LABEL[action]}
        </button>
      ))}
    </span>
  )
}
