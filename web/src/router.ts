// A hash router: #/ cameras, #/cameras/<id>, #/targets, #/discovery, #/login.

import { useSyncExternalStore } from 'react'

export type Route =
  | { page: 'cameras' }
  | { page: 'camera'; id: string }
  | { page: 'targets' }
  | { page: 'discovery' }
  | { page: 'login' }
  | { page: 'notFound'; hash: string }

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/\/+$/, '') || '/'
  if (path === '/' || path === '/cameras') return { page: 'cameras' }
  if (path === '/targets') return { page: 'targets' }
  if (path === '/discovery') return { page: 'discovery' }
  if (path === '/login') return { page: 'login' }
  const m = /^\/cameras\/([^/]+)$/.exec(path)
  if (m) {
    try {
      return { page: 'camera', id: decodeURIComponent(m[1]!) }
    } catch {
      return { page: 'notFound', hash }
    }
  }
  return { page: 'notFound', hash }
}

export const cameraHref = (id: string) => `#/cameras/${encodeURIComponent(id)}`

export function navigate(hash: string): void {
  if (window.location.hash !== hash) window.location.hash = hash
}

const subscribe = (cb: () => void) => {
  window.addEventListener('hashchange', cb)
  return () => window.removeEventListener('hashchange', cb)
}
const getHash = () => window.location.hash

export function useHash(): string {
  return useSyncExternalStore(subscribe, getHash, getHash)
}
