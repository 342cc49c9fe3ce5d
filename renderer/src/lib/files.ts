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
  const url = URL.createObjectURL(new Blob([req.text], { type: 'text/plain;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = req.suggestedName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return req.suggestedName;
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
