/**
 * The Electron transport: the preload's bridge, which has one function per contract channel
 * (generated from shared/contract.ts) and `on` for events. The renderer never sees ipcRenderer.
 */
import type { Answer, Channel, EventName, EventPayload, Req, Res, Transport } from '../../../shared/contract.ts';

export type Bridge = { [C in Channel]: (request: Req<C>) => Promise<Answer<Res<C>>> } & {
  on(event: EventName, listener: (payload: unknown) => void): () => void;
};

export function electronTransport(bridge: Bridge): Transport {
  return {
    host: 'electron',
    invoke: <C extends Channel>(channel: C, request: Req<C>) => (bridge[channel] as (r: Req<C>) => Promise<Answer<Res<C>>>)(request),
    on: <E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void) => bridge.on(event, listener as (p: unknown) => void),
  };
}
