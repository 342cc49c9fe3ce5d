/**
 * The browser host: the built renderer over HTTP and the contract over a WebSocket, on loopback
 * only, for headless machines and remote GPU boxes (reached through an SSH tunnel).
 *
 * Every URL carries a random token as its first path segment (`/TOKEN/…`, `/TOKEN/ws`). The token
 * lives in the path rather than a query or cookie so that every asset request carries it without
 * any state, and it is compared in constant time. Any other request gets 403, as does a request
 * whose Host header is not this loopback address (a DNS-rebinding page cannot name it) and a
 * WebSocket whose Origin is not this page.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { extname, join, normalize, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { EVENT_NAMES } from '../../../shared/contract.ts';
import { decodeFrame, encodeFrame } from '../../../shared/wire.ts';
import type { Host } from '../host.ts';
import { CONTENT_SECURITY_POLICY } from '../csp.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.ico': 'image/x-icon',
};

export interface WebHostOptions {
  host: Host;
  rendererDir: string;
  port?: number;
  token?: string;
}

export interface WebHost {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startWebHost(o: WebHostOptions): Promise<WebHost> {
  const token = o.token ?? randomBytes(24).toString('base64url');
  let port = 0;
  const allowedHosts = () => [`127.0.0.1:${port}`, `localhost:${port}`];

  /** The path after the token, or undefined when the request may not proceed. */
  const authorised = (req: IncomingMessage): string | undefined => {
    if (!allowedHosts().includes(req.headers.host ?? '')) return undefined;
    const url = new URL(req.url ?? '/', 'http://x');
    const [, first, ...rest] = url.pathname.split('/');
    if (!first || !sameToken(first, token)) return undefined;
    return '/' + rest.join('/');
  };

  const forbid = (res: ServerResponse) => {
    res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end('403 Forbidden: open the address with the token that `npm run web` printed.\n');
  };

  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    const rel = authorised(req);
    if (rel === undefined) return forbid(res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      return res.end();
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(rel);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
      return res.end('400 Bad Request: malformed %-escape in the URL\n');
    }
    const file = normalize(join(o.rendererDir, rel === '/' ? 'index.html' : decoded));
    if (!file.startsWith(normalize(o.rendererDir) + sep)) return forbid(res);
    try {
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
        // The token is in the URL: never send it on as a Referer.
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
        'cross-origin-opener-policy': 'same-origin',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('404 Not Found\n');
    }
  };

  const server = createServer((req, res) => {
    serve(req, res).catch(() => {
      res.writeHead(500);
      res.end();
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 512 * 1024 * 1024 });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const rel = authorised(req);
    const origin = req.headers.origin;
    const originOk = origin === undefined || allowedHosts().some((h) => origin === `http://${h}`);
    if (rel !== '/ws' || !originOk) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => connect(ws));
  });

  const sockets = new Set<WebSocket>();
  const send = (ws: WebSocket, msg: unknown) => {
    if (ws.readyState === ws.OPEN) ws.send(encodeFrame(msg));
  };
  // Events go to every connected page: a reloaded page picks up a job that is still running.
  const forwarders = EVENT_NAMES.map((event) => {
    const f = (payload: unknown) => {
      for (const ws of sockets) send(ws, { type: 'event', event, payload });
    };
    o.host.on(event, f);
    return () => o.host.off(event, f);
  });

  function connect(ws: WebSocket) {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('message', (data, isBinary) => {
      let msg: { type?: unknown; id?: unknown; channel?: unknown; request?: unknown };
      try {
        if (!isBinary) throw new Error('text frame');
        msg = decodeFrame(Buffer.isBuffer(data) ? new Uint8Array(data) : new Uint8Array(Buffer.concat(data as Buffer[]))) as typeof msg;
      } catch {
        ws.close(1003, 'frames must be binary patchbench frames');
        return;
      }
      if (msg?.type !== 'invoke' || typeof msg.id !== 'number') return;
      void o.host.invoke(msg.channel, msg.request).then((answer) => send(ws, { type: 'answer', id: msg.id, answer }));
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/${token}/`,
    port,
    token,
    async close() {
      forwarders.forEach((off) => off());
      for (const ws of sockets) ws.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
