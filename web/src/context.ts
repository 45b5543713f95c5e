import { createContext, useContext } from 'react'
import type { Me } from './api/types'
import type { LiveController } from './state/controller'

export interface Session {
  user: Me
  /** An operator token: may start, stop, restart, add, check, activate, scan. */
  canAct: boolean
  controller: LiveController
}

export const SessionContext = createContext<Session | null>(null)

export function useSession(): Session {
  const s = useContext(SessionContext)
  if (!s) throw new Error('useSession outside a session')
  return s
}
