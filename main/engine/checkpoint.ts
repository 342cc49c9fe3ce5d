/**
 * A Hugging Face checkpoint on disk: `model.safetensors`, or the shards named by
 * `model.safetensors.index.json`. Tensors are looked up by their name without the family's prefix
 * (`transformer.`, `model.`, `gpt_neox.`), read one at a time as float32 and checked against the
 * shape config.json implies, so a wrong file is reported by tensor name.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { badModel } from './errors.ts';
import { openSafetensors, type Dtype, type SafetensorsFile } from './safetensors.ts';

export interface CheckpointInfo {
  files: string[];
  dtypes: Dtype[];
  /** number of parameters read (tied matrices counted once) */
  paramCount: number;
}

export interface Checkpoint {
  has(bare: string): boolean;
  /** the tensor `bare` as float32, which must have exactly `shape` */
  read(bare: string, shape: number[]): Float32Array;
  info(): CheckpointInfo;
  close(): void;
}

/** Paths of the weight files: the single file, or every shard the index names. */
function weightFiles(dir: string): string[] {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(single)) return [single];
  if (existsSync(index)) {
    let map: Record<string, unknown>;
    try {
      map = JSON.parse(readFileSync(index, 'utf8')).weight_map;
    } catch (e) {
      throw badModel(`${index}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof map !== 'object' || map === null) throw badModel(`${index}: has no "weight_map" object`);
    const shards = new Set<string>();
    for (const [k, v] of Object.entries(map)) {
      if (typeof v !== 'string' || v.includes('/') || v.includes('\\')) throw badModel(`${index}: weight_map["${k}"] is not a file name in the folder`);
      shards.add(v);
    }
    const paths = [...shards].sort().map((f) => join(dir, f));
    for (const p of paths) if (!existsSync(p)) throw badModel(`${p}: shard listed in ${index} is missing`);
    return paths;
  }
  if (existsSync(join(dir, 'pytorch_model.bin'))) {
    throw badModel(
      `${join(dir, 'pytorch_model.bin')}: PyTorch pickle checkpoints are not read (they can run code). Convert the folder to safetensors once, e.g. in Python: ` +
        `AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True)`,
    );
  }
  throw badModel(`${dir}: no model.safetensors or model.safetensors.index.json in the folder`);
}

export function openCheckpoint(dir: string, prefix: string): Checkpoint {
  const files: SafetensorsFile[] = [];
  /** bare name → [file, name in the file] */
  const lookup = new Map<string, [SafetensorsFile, string]>();
  try {
    for (const p of weightFiles(dir)) {
      const f = openSafetensors(p);
      files.push(f);
      for (const name of f.entries.keys()) {
        const bare = name.startsWith(prefix) ? name.slice(prefix.length) : name;
        if (lookup.has(bare)) throw badModel(`${p}: tensor "${name}" appears twice in the checkpoint`);
        lookup.set(bare, [f, name]);
      }
    }
  } catch (e) {
    for (const f of files) f.close();
    throw e;
  }
  const dtypes = new Set<Dtype>();
  let paramCount = 0;
  return {
    has: (bare) => lookup.has(bare),
    read(bare, shape) {
      const found = lookup.get(bare);
      if (!found) throw badModel(`${dir}: checkpoint has no tensor "${bare}" (with or without the "${prefix}" prefix)`);
      const [file, name] = found;
      const e = file.entries.get(name)!;
      if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
        throw badModel(`${file.path}: tensor "${e.name}" has shape [${e.shape}] but config.json implies [${shape}]`);
      }
      dtypes.add(e.dtype);
      paramCount += e.shape.reduce((a, b) => a * b, 1);
      return file.read(name);
    },
    info: () => ({ files: files.map((f) => f.path), dtypes: [...dtypes].sort(), paramCount }),
    close: () => files.forEach((f) => f.close()),
  };
}
