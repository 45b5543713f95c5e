// Short results of what the user did ("cam-1: restarted", or the error's message).

import { Store } from './store'

export type ToastKind = 'ok' | 'error'

export interface Toast {
  id: number
  kind: ToastKind
  text: string
}

type ToastAction = { type: 'add'; toast: Toast } | { type: 'remove'; id: number }

const MAX_TOASTS = 5

function reduceToasts(list: Toast[], action: ToastAction): Toast[] {
  if (action.type === 'add') return [...list, action.toast].slice(-MAX_TOASTS)
  const next = list.filter((t) => t.id !== action.id)
  return next.length === list.length ? list : next
}

export const toasts = new Store<Toast[], ToastAction>(reduceToasts, [])

let nextId = 1

/** Shown for 5 s (an error for 15 s, or until dismissed). */
export function showToast(kind: ToastKind, text: string): number {
  const id = nextId++
  toasts.dispatch({ type: 'add', toast: { id, kind, text } })
  setTimeout(() => dismissToast(id), kind === 'error' ? 15_000 : 5_000)
  return id
}

export function dismissToast(id: number): void {
  toasts.dispatch({ type: 'remove', id })
}
