/**
 * Builds the renderer (renderer/ → out/renderer/). `base: './'` makes every asset URL relative, so
 * the same build works from the Electron app's file:// page and under the browser host's /TOKEN/
 * prefix.
 */
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('./renderer', import.meta.url)),
  base: './',
  plugins: [svelte({ configFile: false })],
  build: {
    outDir: fileURLToPath(new URL('./out/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'chrome120',
    // One script and one stylesheet: nothing inline, which the Content-Security-Policy forbids.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    // One bundle with ECharts in it (~700 kB); it is loaded from disk or loopback, never a network.
    chunkSizeWarningLimit: 1200,
  },
  server: { host: '127.0.0.1' },
});
