/**
 * What every family module of the float64 reference shares: reading config.json's numbers and the
 * checkpoint's tensors with errors that name them, calling hooks, and the unembedding (logits are
 * one row of W_U per token, dotted with the normalised residual).
 */
import type { RefConfig, RefHook, RefModel, RunOptions } from './model.ts';
import { readCheckpoint, type StoredTensor } from './safetensors.ts';
import { dot, rowTimes, type Tensor64 } from './tensor.ts';

/** config.json's number field `k`, or `fallback` where it is absent; anything else names the field. */
export type ConfigNumber = (k: string, fallback?: number) => number;

export function configNumbers(raw: Record<string, unknown>, where: string): ConfigNumber {
  return (k, fallback) => {
    const v = raw[k] ?? fallback;
    if (typeof v !== 'number') throw new Error(`${where}: ${k} is ${JSON.stringify(v)}, not a number`);
    return v;
  };
}

export interface Checkpoint {
  stored: Map<string, StoredTensor>;
  /** the tensor `name` (or `prefix + name`); a missing one is an error naming it */
  get(name: string): StoredTensor;
  /** the safetensors dtypes the weights were stored in, sorted */
  dtypes: string[];
}

export function openCheckpoint(dir: string, prefix = ''): Checkpoint {
  const stored = readCheckpoint(dir);
  return {
    stored,
    get(name) {
      const t = stored.get(name) ?? (prefix ? stored.get(prefix + name) : undefined);
      if (!t) throw new Error(`${dir}: no tensor ${name}`);
      return t;
    },
    dtypes: [...new Set([...stored.values()].map((t) => t.dtype))].sort(),
  };
}

/** Calls the hook at one point and returns the value to continue with. */
export type At = (name: string, data: Float64Array, shape: number[]) => Float64Array;

export function hookCaller(hook: RefHook | undefined): At {
  if (!hook) return (_name, data) => data;
  return (name, data, shape) => {
    const r = hook(name, { data, shape });
    if (!r) return data;
    if (r.data.length !== data.length || r.shape.join() !== shape.join()) {
      throw new Error(`hook ${name} returned shape [${r.shape}] for an activation of shape [${shape}]`);
    }
    return r.data;
  };
}

/**
 * Each head's write to the residual stream and their sum: z [B, P, H, dh] through W_O [head][dh, D]
 * → attn.hook_result [B, P, H, D], then hook_attn_out [B, P, D] = Σ_h result + b_O, at `rows` only.
 */
export function attentionOutput(n: string, z: Float64Array, WO: Float64Array[], bO: Float64Array, shape: { B: number; P: number; H: number; dh: number; D: number }, rows: number[], at: At): Float64Array {
  const { B, P, H, dh, D } = shape;
  const resultRaw = new Float64Array(B * P * H * D);
  for (const r of rows) for (let h = 0; h < H; h++) rowTimes(resultRaw, (r * H + h) * D, z, (r * H + h) * dh, WO[h], dh, D);
  const result = at(n + 'attn.hook_result', resultRaw, [B, P, H, D]);
  const attnRaw = new Float64Array(B * P * D);
  for (const r of rows)
    for (let i = 0; i < D; i++) {
      let s = bO[i];
      for (let h = 0; h < H; h++) s += result[(r * H + h) * D + i];
      attnRaw[r * D + i] = s;
    }
  return at(n + 'hook_attn_out', attnRaw, [B, P, D]);
}

/** A family's forward pass up to the final norm; the logits are the same for every family. */
export abstract class RefTransformer implements RefModel {
  constructor(
    readonly config: RefConfig,
    /** [V, D]: one row per token */
    private readonly WU: Float64Array,
  ) {}

  abstract residual(tokens: number[][], hook?: RefHook, o?: RunOptions): Tensor64;

  forward(tokens: number[][], hook?: RefHook): Tensor64 {
    const x = this.residual(tokens, hook);
    const [B, P, D] = x.shape;
    const V = this.config.dVocab;
    const out = new Float64Array(B * P * V);
    for (let r = 0; r < B * P; r++) out.set(this.logits(x.data, r * D), r * V);
    return { data: out, shape: [B, P, V] };
  }

  logits(x: Float64Array, offset: number, ids?: number[]): Float64Array {
    const D = this.config.dModel;
    const rows = ids ?? Array.from({ length: this.config.dVocab }, (_, i) => i);
    return Float64Array.from(rows, (t) => dot(x, offset, this.WU, t * D, D));
  }
}

/**
 * Each head's pattern applied to the values: pattern [B, H, P, P], v [B, P, K, dh] (K value heads;
 * query head h reads value head ⌊h·K/H⌋, grouped-query attention; K = H without it) → z [B, P, H, dh],
 * rows from `first` on (earlier rows stay zero).
 */
export function weightValues(pat: Float64Array, v: Float64Array, shape: { B: number; P: number; H: number; K: number; dh: number }, first: number): Float64Array {
  const { B, P, H, K, dh } = shape;
  const z = new Float64Array(B * P * H * dh);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const kv = Math.floor((h * K) / H);
      for (let i = first; i < P; i++) {
        const zo = ((b * P + i) * H + h) * dh;
        for (let j = 0; j < P; j++) {
          const a = pat[((b * H + h) * P + i) * P + j];
          if (a === 0) continue;
          const vo = ((b * P + j) * K + kv) * dh;
          for (let d = 0; d < dh; d++) z[zo + d] += a * v[vo + d];
        }
      }
    }
  return z;
}
