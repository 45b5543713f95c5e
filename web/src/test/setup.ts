import { cleanup } from '@testing-library/react'
import { afterEach, vi } from 'vitest'

afterEach(() => {
  vi.unstubAllGlobals()
  if (typeof window === 'undefined') return // a pure module's test, in node
  cleanup()
  window.location.hash = ''
})
