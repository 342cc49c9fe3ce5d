/**
 * Writing files a user owns: atomically (a crash mid-write never leaves a half-written file), never
 * over a read-only file, never a report over a project or a model, and without leaving the
 * temporary files of interrupted saves behind.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { badInput } from './errors.ts';

/** `.NAME.PID-RANDOM.tmp` beside the target: the writer's pid tells whether it is still running. */
export function tempPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

const TEMP = /^\.(.+)\.(\d+)-[0-9a-f]{8}\.tmp$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temporary files that saves into `dir` left when they were killed mid-write (their
 * process is gone); with `of`, only those of that file. Returns the paths removed.
 */
export function removeStaleTemps(dir: string, of?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m || (of !== undefined && m[1] !== basename(of)) || alive(Number(m[2]))) continue;
    try {
      rmSync(join(dir, name), { force: true });
      removed.push(join(dir, name));
    } catch {
      /* not ours to remove after all */
    }
  }
  return removed;
}

/**
 * Refuses to replace a file whose mode has no write bit. Judged by the mode rather than by an
 * access check, which always passes for root.
 */
export function checkNotReadOnly(file: string): void {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    return; // no file yet
  }
  if ((mode & 0o222) === 0) {
    throw badInput(`${file}: is read-only (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); refusing to replace it. Make it writable first, or write elsewhere`);
  }
}

const PROJECT_MAGIC = Buffer.from('PATCHBENCH\0', 'latin1');
const MODEL_EXTENSIONS = new Set(['.safetensors', '.bin', '.pt', '.pth', '.gguf', '.ckpt', '.h5', '.msgpack', '.onnx', '.model']);
const MODEL_FILES = new Set(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'model.safetensors.index.json']);

function startsWithProjectMagic(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(PROJECT_MAGIC.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(PROJECT_MAGIC);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** What a user's file is, if it is one a report must never replace: a project or part of a model. */
export function ownedFileKind(file: string): 'project' | 'model' | undefined {
  if (!existsSync(file)) return undefined;
  if (extname(file).toLowerCase() === '.patchbench' || startsWithProjectMagic(file)) return 'project';
  if (MODEL_EXTENSIONS.has(extname(file).toLowerCase())) return 'model';
  const dir = dirname(file);
  if (MODEL_FILES.has(basename(file)) && (existsSync(join(dir, 'model.safetensors')) || existsSync(join(dir, 'model.safetensors.index.json')) || existsSync(join(dir, 'config.json')))) return 'model';
  return undefined;
}

/** Writes to a temporary file in the same folder, then renames it over the target (atomic on POSIX). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  checkNotReadOnly(path);
  removeStaleTemps(dirname(path), path);
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, data, { flag: 'wx' });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw badInput(`${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * A command's output (a report, a CSV, a pairs file): refused where it would replace a project
 * file or a model file, which only their own commands write.
 */
export function writeOutput(path: string, data: string | Uint8Array, option: string): void {
  checkOutput(path, option);
  writeFileAtomic(path, data);
}

/** Refuses an output path before the work that fills it starts (see writeOutput). */
export function checkOutput(path: string | undefined, option: string): void {
  if (path === undefined) return;
  const kind = ownedFileKind(path);
  if (kind) {
    throw badInput(
      `${option} ${path}: is ${kind === 'project' ? 'a Patchbench project' : "a model's file"}; refusing to write over it` +
        `${kind === 'project' ? ' (to store results in a project, use `patchbench run FILE.patchbench --save`)' : ''}; choose another output file`,
    );
  }
  checkNotReadOnly(path);
}
