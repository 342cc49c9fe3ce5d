/**
 * Finding models already on this machine: the bundled demo model, folders the user added, and
 * snapshots of the supported families (GPT-2, Llama, Mistral, Qwen2, GPT-NeoX) in the local Hugging
 * Face cache. Nothing is downloaded.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SUPPORTED_MODEL_TYPES } from './config.ts';

export type ModelSource = 'bundled' | 'added' | 'hf-cache';

export interface ModelEntry {
  name: string;
  dir: string;
  source: ModelSource;
  /** model_type from config.json, when readable */
  modelType?: string;
  /** why the folder cannot be loaded, if it visibly cannot */
  problem?: string;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The demo model shipped with the app (resources/models/demo). */
export function bundledModelDir(): string {
  return process.env.PATCHBENCH_DEMO_MODEL ?? join(ROOT, 'resources', 'models', 'demo');
}

export function settingsDir(): string {
  return process.env.PATCHBENCH_HOME ?? join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'patchbench');
}

export function hfCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  if (process.env.HF_HOME) return join(process.env.HF_HOME, 'hub');
  return join(homedir(), '.cache', 'huggingface', 'hub');
}

const SETTINGS = () => join(settingsDir(), 'models.json');

/** Folders the user added ("Model → Open Folder…"), most recent first. */
export function addedModelFolders(): string[] {
  try {
    const list = JSON.parse(readFileSync(SETTINGS(), 'utf8')).folders;
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

export function rememberModelFolder(dir: string): void {
  const abs = resolve(dir);
  const folders = [abs, ...addedModelFolders().filter((f) => f !== abs)].slice(0, 20);
  mkdirSync(settingsDir(), { recursive: true });
  const tmp = `${SETTINGS()}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ folders }, null, 2));
  renameSync(tmp, SETTINGS());
}

const isSupported = (modelType: string | undefined) => (SUPPORTED_MODEL_TYPES as readonly (string | undefined)[]).includes(modelType);

function describe(dir: string, name: string, source: ModelSource): ModelEntry {
  const e: ModelEntry = { name, dir, source };
  try {
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    e.modelType = String(cfg.model_type ?? 'gpt2');
    if (!isSupported(e.modelType)) e.problem = `model_type ${e.modelType} is not supported`;
    else if (!existsSync(join(dir, 'model.safetensors')) && !existsSync(join(dir, 'model.safetensors.index.json'))) {
      e.problem = existsSync(join(dir, 'pytorch_model.bin')) ? 'only pytorch_model.bin: convert to safetensors' : 'no model.safetensors';
    }
  } catch {
    e.problem = existsSync(dir) ? 'no readable config.json' : 'folder not found';
  }
  return e;
}

/** Snapshots in the Hugging Face hub cache: hub/models--ORG--NAME/snapshots/REV/. */
function hfCacheModels(): ModelEntry[] {
  const hub = hfCacheDir();
  const out: ModelEntry[] = [];
  let repos: string[];
  try {
    repos = readdirSync(hub).filter((d) => d.startsWith('models--'));
  } catch {
    return out;
  }
  for (const repo of repos) {
    const snaps = join(hub, repo, 'snapshots');
    let revs: string[];
    try {
      revs = readdirSync(snaps);
    } catch {
      continue;
    }
    for (const rev of revs) {
      const dir = join(snaps, rev);
      if (!existsSync(join(dir, 'config.json'))) continue;
      const e = describe(dir, repo.slice('models--'.length).replace(/--/g, '/'), 'hf-cache');
      if (isSupported(e.modelType)) out.push(e);
    }
  }
  return out;
}

export function discoverModels(): ModelEntry[] {
  const seen = new Set<string>();
  const out: ModelEntry[] = [];
  const add = (e: ModelEntry) => {
    if (!seen.has(e.dir)) {
      seen.add(e.dir);
      out.push(e);
    }
  };
  if (existsSync(bundledModelDir())) add(describe(bundledModelDir(), 'demo (bundled)', 'bundled'));
  for (const f of addedModelFolders()) add(describe(f, f.split(/[\\/]/).filter(Boolean).pop() ?? f, 'added'));
  for (const e of hfCacheModels()) add(e);
  return out;
}
