/** Picks the transport at startup: the preload's bridge in Electron, else the browser host's WebSocket. */
import type { Transport } from '../../../shared/contract.ts';
import { electronTransport, type Bridge } from './electron.ts';
import { webTransport } from './web.ts';

export function pickTransport(): Transport {
  const bridge = (window as unknown as { patchbench?: Bridge }).patchbench;
  if (bridge) return electronTransport(bridge);
  // The page lives at /TOKEN/ (or /TOKEN/index.html); the socket is /TOKEN/ws beside it.
  const base = location.pathname.replace(/[^/]*$/, '');
  return webTransport(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${base}ws`);
}
