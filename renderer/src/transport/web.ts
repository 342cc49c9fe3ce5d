/**
 * The browser host's transport: the contract over one WebSocket at ./ws (beside the page, so it
 * carries the page's token), in binary frames that keep typed arrays. It reconnects after the
 * host restarts or the network blips; requests in flight when the socket drops fail with a
 * sentence saying so rather than hanging.
 */
import type { Answer, Channel, EventName, EventPayload, Req, Res, Transport } from '../../../shared/contract.ts';
import { decodeFrame, encodeFrame } from '../../../shared/wire.ts';

type Listener = (payload: unknown) => void;

export function webTransport(wsUrl: string): Transport {
  let ws: WebSocket | undefined;
  let opened: Promise<WebSocket> | undefined;
  let nextId = 1;
  const pending = new Map<number, (a: Answer<unknown>) => void>();
  const listeners = new Map<EventName, Set<Listener>>();
  let retryMs = 250;

  const lost = (message: string) => {
    for (const [id, resolve] of pending) {
      pending.delete(id);
      resolve({ ok: false, error: { code: 'internal', message } });
    }
  };

  function connect(): Promise<WebSocket> {
    opened ??= new Promise<WebSocket>((resolve, reject) => {
      const sock = new WebSocket(wsUrl);
      sock.binaryType = 'arraybuffer';
      sock.onopen = () => {
        ws = sock;
        retryMs = 250;
        resolve(sock);
      };
      sock.onmessage = (e) => {
        const msg = decodeFrame(e.data as ArrayBuffer) as { type: string; id?: number; answer?: Answer<unknown>; event?: EventName; payload?: unknown };
        if (msg.type === 'answer' && msg.id !== undefined) {
          pending.get(msg.id)?.(msg.answer!);
          pending.delete(msg.id);
        } else if (msg.type === 'event' && msg.event) {
          for (const l of listeners.get(msg.event) ?? []) l(msg.payload);
        }
      };
      sock.onclose = () => {
        const wasOpen = ws === sock;
        ws = undefined;
        opened = undefined;
        lost('The connection to the Patchbench host was lost; is `npm run web` still running? Reconnecting…');
        if (!wasOpen) reject(new Error('cannot reach the Patchbench host'));
        // Keep trying in the background so events resume once the host is back.
        setTimeout(() => void connect().catch(() => {}), retryMs);
        retryMs = Math.min(retryMs * 2, 5000);
      };
    });
    return opened;
  }
  void connect().catch(() => {});

  return {
    host: 'web',
    async invoke<C extends Channel>(channel: C, request: Req<C>): Promise<Answer<Res<C>>> {
      let sock: WebSocket;
      try {
        sock = await connect();
      } catch {
        return { ok: false, error: { code: 'internal', message: 'Cannot reach the Patchbench host; is `npm run web` still running?' } };
      }
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve as (a: Answer<unknown>) => void);
        sock.send(encodeFrame({ type: 'invoke', id, channel, request }));
      });
    },
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void) {
      const set = listeners.get(event) ?? new Set<Listener>();
      listeners.set(event, set);
      set.add(listener as Listener);
      return () => set.delete(listener as Listener);
    },
  };
}
