/**
 * A model folder's weights, for every architecture: `model.safetensors`, or the shards named by
 * `model.safetensors.index.json`. A family's loader reads each tensor it needs by name and shape;
 * the checkpoint checks the shape against what config.json implies, refuses NaN and infinite
 * values (naming the tensor), and in the end refuses tensors the loader left unused, so that a
 * config.json that disagrees with its checkpoint (fewer layers, say) is an error, not a smaller
 * model run silently. Only the buffers `transformers` itself ignores on loading may be left.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { badModel } from './errors.ts';
import { jsonProblem } from './json.ts';
import { openSafetensors, type Dtype, type SafetensorsFile, type TensorEntry } from './safetensors.ts';

/** Buffers (causal masks, rotary frequencies) that `transformers` recomputes and ignores when loading. */
export const IGNORED_BUFFERS = ['attn.bias', 'attn.masked_bias', 'attention.bias', 'attention.masked_bias', 'rotary_emb.inv_freq'];
const isIgnoredBuffer = (name: string) => IGNORED_BUFFERS.some((b) => name === b || name.endsWith('.' + b));

export interface CheckpointOptions {
  /** prefixes a checkpoint may put before every name (e.g. `transformer.` for GPT-2); names are looked up without them */
  prefixes?: string[];
}

export class Checkpoint {
  readonly dtypes = new Set<Dtype>();
  /** parameters read so far (a tensor read twice, such as tied embeddings, counts once) */
  paramCount = 0;
  private readonly used = new Set<string>();

  private constructor(
    readonly dir: string,
    private readonly files: SafetensorsFile[],
    /** bare name → file and the name stored in it */
    private readonly lookup: Map<string, { file: SafetensorsFile; stored: string }>,
    private readonly prefixes: string[],
  ) {}

  static open(dir: string, o: CheckpointOptions = {}): Checkpoint {
    const paths = checkpointFiles(dir);
    const files: SafetensorsFile[] = [];
    const lookup = new Map<string, { file: SafetensorsFile; stored: string }>();
    try {
      for (const p of paths) {
        const f = openSafetensors(p);
        files.push(f);
        for (const stored of f.entries.keys()) {
          const prefix = (o.prefixes ?? []).find((x) => stored.startsWith(x));
          const bare = prefix ? stored.slice(prefix.length) : stored;
          if (lookup.has(bare)) throw badModel(`${p}: tensor "${stored}" appears twice in the checkpoint`);
          lookup.set(bare, { file: f, stored });
        }
      }
    } catch (e) {
      for (const f of files) f.close();
      throw e;
    }
    return new Checkpoint(dir, files, lookup, o.prefixes ?? []);
  }

  get paths(): string[] {
    return this.files.map((f) => f.path);
  }

  /** Every tensor's name (as stored) and shape, from the headers alone. */
  entries(): TensorEntry[] {
    return this.files.flatMap((f) => [...f.entries.values()]);
  }

  has(bare: string): boolean {
    return this.lookup.has(bare);
  }

  /** A tensor by its name without prefix, checked against the shape config.json implies, as float32. */
  read(bare: string, shape: number[]): Float32Array {
    const hit = this.lookup.get(bare);
    if (!hit) {
      const prefixed = this.prefixes.length ? ` (with or without the ${this.prefixes.map((x) => `"${x}"`).join(' or ')} prefix)` : '';
      throw badModel(`${this.dir}: checkpoint has no tensor "${bare}"${prefixed}`);
    }
    const e = hit.file.entries.get(hit.stored)!;
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw badModel(`${hit.file.path}: tensor "${e.name}" has shape [${e.shape}] but config.json implies [${shape}]`);
    }
    const data = hit.file.read(e.name);
    for (let i = 0; i < data.length; i++) {
      // x − x is 0 for every finite x, NaN for NaN and ±Infinity.
      if (data[i] - data[i] !== 0) {
        throw badModel(`${hit.file.path}: tensor "${e.name}" holds ${Number.isNaN(data[i]) ? 'NaN' : data[i]} at flat index ${i}; the weights are corrupt (only finite values can be used)`);
      }
    }
    if (!this.used.has(bare)) this.paramCount += data.length;
    this.used.add(bare);
    this.dtypes.add(e.dtype);
    return data;
  }

  /**
   * Refuses tensors no read asked for (other than IGNORED_BUFFERS): config.json describes a
   * different model from the checkpoint. `model` says what config.json describes.
   */
  checkAllUsed(model: string): void {
    const unused = [...this.lookup.entries()].filter(([bare]) => !this.used.has(bare) && !isIgnoredBuffer(bare));
    if (!unused.length) return;
    const [, first] = unused[0];
    const more = unused.length > 1 ? ` (and ${unused.length - 1} more)` : '';
    throw badModel(
      `${first.file.path}: tensor "${first.stored}"${more} is not used by ${model}; config.json and the checkpoint disagree ` +
        `(only the buffers transformers ignores may be left over: ${IGNORED_BUFFERS.join(', ')})`,
    );
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}

/** The weight files of a model folder: model.safetensors, or the shards of its index, sorted. */
function checkpointFiles(dir: string): string[] {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(single)) return [single];
  if (existsSync(index)) {
    if (!statSync(index).isFile()) throw badModel(`${index}: is not a regular file`);
    let map: Record<string, unknown>;
    try {
      map = JSON.parse(readFileSync(index, 'utf8')).weight_map;
    } catch (e) {
      throw badModel(`${index}: not valid JSON (${jsonProblem(e)})`);
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
