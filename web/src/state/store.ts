// A value that changes by a reducer, for React's useSyncExternalStore: no state library.

import { useSyncExternalStore } from 'react'

export class Store<S, A> {
  private state: S
  private readonly listeners = new Set<() => void>()
  private readonly reducer: (state: S, action: A) => S

  constructor(reducer: (state: S, action: A) => S, initial: S) {
    this.reducer = reducer
    this.state = initial
  }

  getState = (): S => this.state

  dispatch = (action: A): void => {
    const next = this.reducer(this.state, action)
    if (next === this.state) return
    this.state = next
    for (const listener of [...this.listeners]) listener()
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }
}

export function useStore<S, A>(store: Store<S, A>): S {
  return useSyncExternalStore(store.subscribe, store.getState, store.getState)
}
