/**
 * Saving and loading project files. A save validates what it is about to write (by decoding it),
 * writes a temporary file in the same folder, fsyncs it and renames it over the target, so a crash
 * or a full disk at any moment leaves either the old file or the new one, never a mix.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, chmodSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { badInput } from '../errors.ts';
import { decodeProject, encodeProject, storedModelPath, type Decoded, type ModelPathMode } from './format.ts';
import { badProject, type Project } from './types.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The app's resources folder (bundled models and examples). */
export function resourcesDir(): string {
  return join(ROOT, 'resources');
}

let version: string | undefined;
/** The app version from package.json. */
export function appVersion(): string {
  if (version === undefined) {
    try {
      version = String(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version ?? 'unknown');
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

export interface SaveOptions {
  /**
   * How `model.path` is written: `auto` (default) relative to the project file when both are inside
   * the app's resources (so bundled examples work from any install location), else absolute.
   */
  modelPath?: ModelPathMode;
  /** called after each chunk written (bytes so far, total) */
  onProgress?: (written: number, total: number) => void;
}

/** Writes `project` to `path` atomically. Throws bad-project (invalid project) or bad-input (cannot write). */
export function saveProject(path: string, project: Project, o: SaveOptions = {}): void {
  const file = resolve(path);
  const chunks = encodeProject(project, storedModelPath(project.model.path, file, o.modelPath ?? 'auto', resourcesDir()));
  const bytes = Buffer.concat(chunks);
  // Never write what loadProject would refuse.
  decodeProject(bytes, file);
  writeAtomic(file, bytes, o.onProgress);
}

/** Reads and validates a project file, migrating older schema versions. */
export function loadProject(path: string): Project {
  return loadProjectInfo(path).project;
}

/** loadProject, also telling which schema version the file was in (before migration). */
export function loadProjectInfo(path: string): Decoded {
  const file = resolve(path);
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw badProject(`${file}: cannot read (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message})`);
  }
  return decodeProject(buf, file);
}

const CHUNK = 1 << 20;

/** Temp file in the same folder → write → fsync → rename → fsync the folder. */
export function writeAtomic(file: string, bytes: Uint8Array, onProgress?: (written: number, total: number) => void): void {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    try {
      chmodSync(tmp, statSync(file).mode & 0o777); // keep the old file's permissions
    } catch {
      /* no old file */
    }
    let written = 0;
    while (written < bytes.length) {
      written += writeSync(fd, bytes, written, Math.min(CHUNK, bytes.length - written));
      onProgress?.(written, bytes.length);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw badInput(`${file}: cannot save (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const d = openSync(dir, 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    /* folders cannot be fsynced on every platform */
  }
}
