/**
 * Saving and opening text files. In the desktop app the main process shows native dialogs; in the
 * browser host the browser downloads and uploads, because the host's disk may be another machine's.
 */
import type { Req, Transport } from '../../../shared/contract.ts';
import type { Call } from './api.ts';

export interface OpenedFile {
  path?: string;
  name: string;
  text: string;
}

interface Ctx {
  transport: Transport;
  call: Call;
}

/** Returns where it was saved (a path, or the download's name), or null when the user cancelled. */
export async function saveText(ctx: Ctx, req: Req<'file:save'>): Promise<string | null> {
  if (ctx.transport.host === 'electron') return ctx.call('file:save', req);
  download(new Blob([req.text], { type: req.suggestedName.endsWith('.svg') ? 'image/svg+xml' : 'text/plain;charset=utf-8' }), req.suggestedName);
  return req.suggestedName;
}

/** Saves an image from a data URL (a chart's PNG or SVG): the bytes, not the URL. */
export async function saveDataUrl(ctx: Ctx, req: { title: string; suggestedName: string; dataUrl: string; filters: Req<'file:save'>['filters'] }): Promise<string | null> {
  const m = /^data:([^;,]+)(;base64)?,(.*)$/s.exec(req.dataUrl);
  if (!m) throw new Error('the chart could not be turned into an image');
  const base64 = !!m[2];
  const payload = base64 ? m[3] : decodeURIComponent(m[3]);
  if (ctx.transport.host === 'electron') {
    return ctx.call('file:save', { title: req.title, suggestedName: req.suggestedName, text: payload, filters: req.filters, encoding: base64 ? 'base64' : 'utf8' });
  }
  const bytes = base64 ? Uint8Array.from(atob(payload), (c) => c.charCodeAt(0)) : new TextEncoder().encode(payload);
  download(new Blob([bytes], { type: m[1] }), req.suggestedName);
  return req.suggestedName;
}

function download(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function openText(ctx: Ctx, req: Req<'file:open'>): Promise<OpenedFile | null> {
  if (ctx.transport.host === 'electron') return ctx.call('file:open', req);
  const input = document.createElement('input');
  input.type = 'file';
  input.accept = req.filters.flatMap((f) => f.extensions.map((e) => `.${e}`)).join(',');
  return new Promise((resolve, reject) => {
    input.addEventListener('change', () => {
      const file = input.files?.[0];
      if (!file) return resolve(null);
      file.text().then((text) => resolve({ name: file.name, text }), reject);
    });
    input.addEventListener('cancel', () => resolve(null));
    input.click();
  });
}
