/**
 * Saving and loading project files. A save validates what it is about to write (by decoding it),
 * writes a temporary file in the same folder, fsyncs it and renames it over the target, so a crash
 * or a full disk at any moment leaves either the old file or the new one, never a mix.
 */
import { existsSync, closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, chmodSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { badInput } from '../errors.ts';
import { checkNotReadOnly, removeStaleTemps, tempPathFor } from '../files.ts';
import { decodeProject, encodeProject, storedModelPath, type Decoded, type ModelPathMode } from './format.ts';
import { badProject, type Project } from './types.ts';

/**
 * The app's package.json: the nearest one named "patchbench" above this module (the repository
 * root from source, app.asar from an esbuild bundle in the packaged app).
 */
function findPackage(): { root: string; version: string } | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      if (pkg.name === 'patchbench') return { root: dir, version: String(pkg.version ?? 'unknown') };
    } catch {
      /* not here */
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

let pkg: { root: string; version: string } | undefined | null = null;
const appPackage = () => (pkg === null ? (pkg = findPackage()) : pkg);

/**
 * The app's resources folder (bundled model and examples): `resources/` of the source tree, or in
 * the packaged app Electron's resources folder, where they ship as extra resources.
 */
export function resourcesDir(): string {
  const packaged = (process as { resourcesPath?: string }).resourcesPath;
  if (typeof packaged === 'string' && existsSync(join(packaged, 'models'))) return packaged;
  return join(appPackage()?.root ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'resources');
}

/** The app version from package.json ("unknown" if it cannot be found). */
export function appVersion(): string {
  return appPackage()?.version ?? 'unknown';
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
  writeAtomic(resolve(path), projectBytes(path, project, o), o.onProgress);
}

/**
 * The bytes saveProject would write to `path` (a relative model path is relative to it), checked by
 * decoding them: throws bad-project for what loadProject would refuse, before anything is written.
 */
export function projectBytes(path: string, project: Project, o: Pick<SaveOptions, 'modelPath'> = {}): Buffer {
  const file = resolve(path);
  const bytes = Buffer.concat(encodeProject(project, storedModelPath(project.model.path, file, o.modelPath ?? 'auto', resourcesDir())));
  decodeProject(bytes, file);
  return bytes;
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

/** The largest project file opened: far above any real one (arrays of every kind of a big model). */
export const MAX_PROJECT_BYTES = 1 << 30;

/**
 * loadProjectInfo without blocking the caller's thread on the file: the path must be a regular file
 * (a FIFO would block a read forever, a device such as /dev/zero never ends, a folder is not a
 * project: each is refused by name before it is opened) of at most MAX_PROJECT_BYTES, read
 * asynchronously. For hosts, whose event loop serves every connection.
 */
export async function readProjectInfo(path: string): Promise<Decoded> {
  const file = resolve(path);
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw badProject(`${file}: cannot read (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message})`);
  }
  if (!st.isFile()) {
    const what = st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a named pipe (FIFO)' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'not a regular file';
    throw badProject(`${file}: is ${what}, not a project file`);
  }
  if (st.size > MAX_PROJECT_BYTES) throw badProject(`${file}: is ${(st.size / 2 ** 30).toFixed(1)} GiB, more than the ${MAX_PROJECT_BYTES / 2 ** 30} GiB a project file can be`);
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    throw badProject(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return decodeProject(buf, file);
}

const CHUNK = 1 << 20;

/**
 * Temp file in the same folder → write → fsync → rename → fsync the folder. A read-only target is
 * refused, and temporary files that earlier saves of it left when they were killed are removed.
 */
export function writeAtomic(file: string, bytes: Uint8Array, onProgress?: (written: number, total: number) => void): void {
  const dir = dirname(file);
  checkNotReadOnly(file);
  removeStaleTemps(dir, file);
  const tmp = tempPathFor(file);
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
    try {
      rmSync(tmp, { force: true });
    } catch {
      /* a name too long to create is too long to remove: there is nothing to remove */
    }
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
