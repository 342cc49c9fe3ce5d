/**
 * The preload: the renderer's only door to the main process. Its API is generated from the
 * contract (one function per channel, plus `on` for the contract's events), so it cannot drift
 * from it and exposes nothing else; ipcRenderer and the event objects never reach the page.
 * Bundled to CommonJS (out/app/preload.cjs) because sandboxed preloads cannot load modules.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { CHANNEL_NAMES, isEventName } from '../../shared/contract.ts';

const api: Record<string, unknown> = Object.fromEntries(CHANNEL_NAMES.map((channel) => [channel, (request: unknown) => ipcRenderer.invoke(channel, request)]));

api.on = (event: unknown, listener: unknown) => {
  if (!isEventName(event)) throw new Error(`unknown event ${String(event)}`);
  if (typeof listener !== 'function') throw new Error('listener must be a function');
  const wrapped = (_e: unknown, payload: unknown) => listener(payload);
  ipcRenderer.on(event, wrapped);
  return () => ipcRenderer.removeListener(event, wrapped);
};

contextBridge.exposeInMainWorld('patchbench', api);
