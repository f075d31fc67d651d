/**
 * The dashboard's build (contract §8): `vite build web` (part of `npm run build`) writes
 * ../dist/web, which the API serves at `/` (src/api/dashboard.ts). Content-hashed file names
 * under /assets/, one script and one stylesheet, no inline script or style: the page runs under
 * the strict DASHBOARD_CSP.
 *
 * `vite web` serves it for development with live reload, passing /graphql (HTTP and
 * WebSocket) and /session to the API at PATTERNWIRE_API (default http://localhost:4000).
 */
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const api = process.env['PATTERNWIRE_API'] ?? 'http://localhost:4000';

export default defineConfig({
  plugins: [preact({ devToolsEnabled: false, prefreshEnabled: true })],
  base: '/',
  build: {
    outDir: '../dist/web',
    // outDir is outside web/, where Vite does not empty it unless told.
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // No dynamic imports, so no preload polyfill (it would be dead code).
    modulePreload: { polyfill: false },
    // Every asset a file of its own: nothing inlined as a data: URL the CSP would refuse.
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/graphql': { target: api, ws: true },
      '/session': { target: api },
    },
  },
});
