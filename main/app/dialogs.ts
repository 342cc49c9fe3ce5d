/** Native file dialogs, owned by the main process. (Recent projects are the host's: main/host/projects.ts.) */
import { dialog, type BrowserWindow } from 'electron';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../engine/files.ts';
import type { Dialogs } from '../host/host.ts';
import { projectsDir } from '../host/projects.ts';

const PROJECT_FILTER = { name: 'Patchbench project', extensions: ['patchbench'] };

const MAX_FILE = 200 * 1024 * 1024;


export async function readTextFile(path: string): Promise<{ path: string; name: string; text: string }> {
  const buf = await readFile(path);
  if (buf.length > MAX_FILE) throw new Error(`${path} is larger than 200 MB`);
  return { path, name: basename(path), text: buf.toString('utf8') };
}

export function nativeDialogs(win: () => BrowserWindow | undefined): Dialogs {
  return {
    async saveText({ title, suggestedName, text, filters, encoding }) {
      const w = win();
      const opts = { title, defaultPath: suggestedName, filters };
      const r = w ? await dialog.showSaveDialog(w, opts) : await dialog.showSaveDialog(opts);
      if (r.canceled || !r.filePath) return null;
      // The dialog answered with a path in a folder that exists: written atomically, never over a read-only file.
      writeFileAtomic(r.filePath, encoding === 'base64' ? Buffer.from(text, 'base64') : text);
      return r.filePath;
    },
    async openText({ title, filters }) {
      const w = win();
      const opts = { title, filters, properties: ['openFile' as const] };
      const r = w ? await dialog.showOpenDialog(w, opts) : await dialog.showOpenDialog(opts);
      const path = r.filePaths[0];
      if (r.canceled || !path) return null;
      const f = await readTextFile(path);
      return f;
    },
    async pickProjectToOpen() {
      const w = win();
      const opts = { title: 'Open a Patchbench project', filters: [PROJECT_FILTER], properties: ['openFile' as const] };
      const r = w ? await dialog.showOpenDialog(w, opts) : await dialog.showOpenDialog(opts);
      return r.canceled ? null : (r.filePaths[0] ?? null);
    },
    async pickProjectToSave(suggestedName) {
      const w = win();
      const opts = { title: 'Save the project', defaultPath: join(projectsDir(), suggestedName), filters: [PROJECT_FILTER] };
      const r = w ? await dialog.showSaveDialog(w, opts) : await dialog.showSaveDialog(opts);
      if (r.canceled || !r.filePath) return null;
      return r.filePath.endsWith('.patchbench') ? r.filePath : `${r.filePath}.patchbench`;
    },
    async pickFolder({ title }) {
      const w = win();
      const opts = { title, properties: ['openDirectory' as const] };
      const r = w ? await dialog.showOpenDialog(w, opts) : await dialog.showOpenDialog(opts);
      return r.canceled ? null : (r.filePaths[0] ?? null);
    },
  };
}
