import { defineConfig } from 'vitest/config'

// No @vitejs/plugin-react: esbuild compiles JSX with React's automatic runtime.
// The page is served under a strict CSP (default-src 'self'; img-src 'self' blob:): no
// inline script or style, no data: URIs, so nothing is inlined into index.html.
export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    // `npm run dev` against a local ucvd-web (UCVD_WEB=http://127.0.0.1:PORT).
    proxy: {
      '/api': { target: process.env.UCVD_WEB ?? 'http://127.0.0.1:9810', ws: true },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
    env: { TZ: 'UTC' },
  },
})
