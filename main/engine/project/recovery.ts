/**
 * Autosave and crash recovery for the app. Autosaves go to `<settings dir>/recovery/`, one file per
 * open project (named after it, plus a hash of its path) or per untitled project of this session,
 * written atomically like any save. After a successful save or a deliberate close the app discards
 * the autosave; any left at startup are what a crash interrupted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, join, relative, resolve, isAbsolute } from 'node:path';
import { settingsDir } from '../discovery.ts';
import { badInput } from '../errors.ts';
import { loadProject, saveProject } from './io.ts';
import { PROJECT_EXTENSION, type Project } from './types.ts';

export function recoveryDir(): string {
  return join(settingsDir(), 'recovery');
}

const SESSION = `${Date.now().toString(36)}-${process.pid}-${randomBytes(3).toString('hex')}`;

/**
 * Where the autosave of the project saved at `projectPath` goes (the same file for every autosave of
 * it); for `null`, an untitled project, this session's untitled autosave.
 */
export function autosavePath(projectPath: string | null): string {
  if (projectPath === null) return join(recoveryDir(), `untitled-${SESSION}${PROJECT_EXTENSION}`);
  const abs = resolve(projectPath);
  const stem = basename(abs).replace(/\.patchbench$/i, '').replace(/[^\w.-]+/g, '_').slice(0, 60) || 'project';
  const id = createHash('sha256').update(abs).digest('hex').slice(0, 12);
  return join(recoveryDir(), `${stem}-${id}${PROJECT_EXTENSION}`);
}

/** Writes an autosave of `project` (which belongs at `projectPath`, or is untitled) atomically; returns its path. */
export function autosaveProject(project: Project, projectPath: string | null, now = new Date()): string {
  const path = autosavePath(projectPath);
  mkdirSync(recoveryDir(), { recursive: true });
  saveProject(path, { ...project, autosave: { projectPath: projectPath === null ? null : resolve(projectPath), date: now.toISOString() } }, { modelPath: 'absolute' });
  return path;
}

export interface Recoverable {
  /** the autosave file (open it with loadProject) */
  path: string;
  /** the project file it belongs to; null if the project was never saved */
  projectPath: string | null;
  /** when it was autosaved */
  date: string;
  /** true when the project file is missing or older than the autosave (so the autosave holds unsaved work) */
  newer: boolean;
  /** why it cannot be opened, if it cannot */
  problem?: string;
}

/** Autosaves left in the recovery folder, newest first. Call at startup, before this session autosaves. */
export function listRecoverable(): Recoverable[] {
  let names: string[];
  try {
    names = readdirSync(recoveryDir());
  } catch {
    return [];
  }
  const out: Recoverable[] = [];
  for (const name of names) {
    if (!name.endsWith(PROJECT_EXTENSION) || name.startsWith('.')) continue; // temporaries of interrupted saves
    const path = join(recoveryDir(), name);
    const mtime = statSync(path).mtime;
    try {
      const p = loadProject(path);
      const projectPath = p.autosave?.projectPath ?? null;
      let newer = true;
      if (projectPath) {
        try {
          newer = statSync(projectPath).mtimeMs < mtime.getTime();
        } catch {
          /* project file gone: the autosave is all there is */
        }
      }
      out.push({ path, projectPath, date: p.autosave?.date ?? mtime.toISOString(), newer });
    } catch (e) {
      out.push({ path, projectPath: null, date: mtime.toISOString(), newer: false, problem: (e as Error).message });
    }
  }
  return out.sort((a, b) => b.date.localeCompare(a.date));
}

/** Deletes an autosave (after recovering it or declining to). Refuses paths outside the recovery folder. */
export function discardRecovery(path: string): void {
  const r = relative(recoveryDir(), resolve(path));
  if (!r || r.startsWith('..') || isAbsolute(r) || !r.endsWith(PROJECT_EXTENSION)) {
    throw badInput(`${path}: not an autosave in ${recoveryDir()}; refusing to delete it`);
  }
  rmSync(resolve(path), { force: true });
}
