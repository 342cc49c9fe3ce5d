/** Native file dialogs, owned by the main process, and the list of recently opened session files. */
import { app, dialog, type BrowserWindow } from 'electron';
import { readFile, rename, writeFile, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Dialogs } from '../host/host.ts';
import { projectsDir } from '../host/projects.ts';

const PROJECT_FILTER = { name: 'Patchbench project', extensions: ['patchbench'] };

const MAX_FILE = 200 * 1024 * 1024;

async function writeAtomically(path: string, text: string | Buffer) {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

export async function readTextFile(path: string): Promise<{ path: string; name: string; text: string }> {
  const buf = await readFile(path);
  if (buf.length > MAX_FILE) throw new Error(`${path} is larger than 200 MB`);
  return { path, name: basename(path), text: buf.toString('utf8') };
}

/** Recently opened or saved session files, newest first, kept in the user-data folder. */
export class RecentFiles {
  private list: string[] = [];
  private readonly file = join(app.getPath('userData'), 'recent-files.json');
  constructor(private readonly onChange: () => void) {}
  async load() {
    try {
      const x = JSON.parse(await readFile(this.file, 'utf8'));
      if (Array.isArray(x)) this.list = x.filter((p): p is string => typeof p === 'string');
    } catch {
      this.list = [];
    }
  }
  get paths(): readonly string[] {
    return this.list;
  }
  async add(path: string) {
    this.list = [path, ...this.list.filter((p) => p !== path)].slice(0, 10);
    app.addRecentDocument(path);
    await writeAtomically(this.file, JSON.stringify(this.list, null, 2)).catch(() => {});
    this.onChange();
  }
}

export function nativeDialogs(win: () => BrowserWindow | undefined, recent: RecentFiles): Dialogs {
  const isSession = (name: string) => name.endsWith('.json');
  return {
    async saveText({ title, suggestedName, text, filters, encoding }) {
      const w = win();
      const opts = { title, defaultPath: suggestedName, filters };
      const r = w ? await dialog.showSaveDialog(w, opts) : await dialog.showSaveDialog(opts);
      if (r.canceled || !r.filePath) return null;
      await writeAtomically(r.filePath, encoding === 'base64' ? Buffer.from(text, 'base64') : text);
      if (isSession(r.filePath)) await recent.add(r.filePath);
      return r.filePath;
    },
    async openText({ title, filters }) {
      const w = win();
      const opts = { title, filters, properties: ['openFile' as const] };
      const r = w ? await dialog.showOpenDialog(w, opts) : await dialog.showOpenDialog(opts);
      const path = r.filePaths[0];
      if (r.canceled || !path) return null;
      const f = await readTextFile(path);
      if (isSession(path)) await recent.add(path);
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
