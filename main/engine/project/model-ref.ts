/**
 * The model a project refers to: its fingerprint (sha256 over config.json and the weight files,
 * streamed), where to find it, and whether the model found there is still the same one.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { readConfig } from '../config.ts';
import { bundledModelDir } from '../discovery.ts';
import { badModel } from '../errors.ts';
import { jsonProblem } from '../json.ts';
import type { ModelFile, ModelRef, Project } from './types.ts';

/**
 * The files a fingerprint covers, in order: config.json, then `model.safetensors`, or
 * `model.safetensors.index.json` and its shards (sorted), as the loader reads them.
 * Throws bad-model naming the first one missing.
 */
export function modelFiles(dir: string): string[] {
  const need = (name: string) => {
    if (!existsSync(join(dir, name))) throw badModel(`${join(dir, name)}: missing`);
    return name;
  };
  const out = [need('config.json')];
  if (existsSync(join(dir, 'model.safetensors'))) return [...out, 'model.safetensors'];
  const index = join(dir, 'model.safetensors.index.json');
  if (!existsSync(index)) throw badModel(`${dir}: no model.safetensors or model.safetensors.index.json in the folder`);
  let map: unknown;
  try {
    map = JSON.parse(readFileSync(index, 'utf8')).weight_map;
  } catch (e) {
    throw badModel(`${index}: not valid JSON (${jsonProblem(e)})`);
  }
  if (typeof map !== 'object' || map === null) throw badModel(`${index}: has no "weight_map" object`);
  const shards = [...new Set(Object.values(map).map(String))].sort();
  return [...out, 'model.safetensors.index.json', ...shards.map(need)];
}

/**
 * `sha256:<hex>` over, for each file in modelFiles order: `name\nbytes\n` then its contents.
 * Reads in 1 MB chunks, so memory stays flat for any model size.
 */
export async function fingerprintModel(dir: string): Promise<{ fingerprint: string; files: ModelFile[] }> {
  const abs = resolve(dir);
  const hash = createHash('sha256');
  const files: ModelFile[] = [];
  for (const name of modelFiles(abs)) {
    const path = join(abs, name);
    const bytes = statSync(path).size;
    files.push({ name, bytes });
    hash.update(`${name}\n${bytes}\n`);
    let got = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
      got += (chunk as Buffer).length;
    }
    if (got !== bytes) throw badModel(`${path}: changed while it was being read`);
  }
  return { fingerprint: `sha256:${hash.digest('hex')}`, files };
}

/** A reference to the model in `dir`: its absolute path, name, fingerprint, file sizes and dims. */
export async function describeModel(dir: string): Promise<ModelRef> {
  const abs = resolve(dir);
  const cfg = readConfig(abs);
  const { fingerprint, files } = await fingerprintModel(abs);
  const ref: ModelRef = {
    path: abs,
    name: basename(abs),
    fingerprint,
    files,
    dims: {
      nLayers: cfg.nLayers,
      nHeads: cfg.nHeads,
      ...(cfg.nKvHeads !== cfg.nHeads ? { nKvHeads: cfg.nKvHeads } : {}),
      dModel: cfg.dModel,
      dMlp: cfg.dMlp,
      dVocab: cfg.dVocab,
    },
  };
  if (abs === resolve(bundledModelDir())) ref.bundled = true;
  return ref;
}

/**
 * Where the project's model is: `model.path` if it exists; else, for the bundled demo model, this
 * install's copy. (The fingerprint decides whether what is found there is the same model.)
 */
export function resolveModelDir(project: Project): string {
  const p = project.model.path;
  if (existsSync(p)) return p;
  if (project.model.bundled && existsSync(bundledModelDir())) return resolve(bundledModelDir());
  return p;
}

export type ModelStatus = 'ok' | 'missing' | 'changed' | 'unverified';

export interface ModelCheck {
  /**
   * ok: found and the fingerprint matches; missing: no loadable model files there; changed: found
   * but different; unverified: found, but the project records no fingerprint (older file).
   */
  status: ModelStatus;
  /** the folder checked */
  dir: string;
  /** one sentence for the user, naming the folder */
  message: string;
  /** the model found there (absent when missing) */
  found?: ModelRef;
}

const short = (fp: string | null) => (fp ? fp.slice(0, 19) + '…' : 'none');

/** Whether the model the project refers to is there and unchanged. `dir` checks another folder instead. */
export async function checkModel(project: Project, dir?: string): Promise<ModelCheck> {
  const want = project.model;
  const where = resolve(dir ?? resolveModelDir(project));
  const label = `model "${want.name}"`;
  if (!existsSync(where)) {
    return { status: 'missing', dir: where, message: `${label} not found: ${where} does not exist` };
  }
  let found: ModelRef;
  try {
    found = await describeModel(where);
  } catch (e) {
    return { status: 'missing', dir: where, message: `${label} not found at ${where} (${(e as Error).message})` };
  }
  if (want.fingerprint === null) {
    return { status: 'unverified', dir: where, found, message: `${label} found at ${where}, but the project records no fingerprint (it was saved by an older version), so whether it is the same model cannot be checked` };
  }
  if (found.fingerprint === want.fingerprint) {
    return { status: 'ok', dir: where, found, message: `${label} at ${where} matches the project (${short(found.fingerprint)})` };
  }
  const diffs: string[] = [];
  const was = new Map(want.files.map((x) => [x.name, x.bytes]));
  for (const x of found.files) {
    const before = was.get(x.name);
    if (before === undefined) diffs.push(`${x.name} is new`);
    else if (before !== x.bytes) diffs.push(`${x.name} is ${x.bytes} bytes (was ${before})`);
    was.delete(x.name);
  }
  for (const name of was.keys()) diffs.push(`${name} is gone`);
  if (!diffs.length) diffs.push('same file sizes, different contents');
  return {
    status: 'changed',
    dir: where,
    found,
    message: `${label} at ${where} has changed since the project was saved: ${diffs.join('; ')}; fingerprint ${short(found.fingerprint)} (was ${short(want.fingerprint)})`,
  };
}
