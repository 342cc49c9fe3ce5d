/**
 * The demo model's parameters as one flat Float32Array, laid out tensor by tensor in a fixed order
 * and named exactly as in a Hugging Face GPT-2 checkpoint. One flat array makes the optimizer one
 * loop, lets training threads share the weights through a SharedArrayBuffer, and turns straight
 * into model.safetensors.
 */
import { mulberry32, type Rng } from '../tasks/random.ts';

export interface ArchConfig {
  nLayers: number;
  nHeads: number;
  dModel: number;
  /** MLP width; GPT-2 uses 4·dModel (config.json n_inner null) */
  dMlp: number;
  /** positions the model has embeddings for (n_positions) */
  nCtx: number;
  vocabSize: number;
  /** layer_norm_epsilon */
  eps: number;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  /** how it is initialised */
  init: 'normal' | 'proj' | 'ones' | 'zeros';
  /** AdamW weight decay applies (matrices only; not biases or layer-norm gains) */
  decay: boolean;
}

export interface ParamLayout {
  specs: ParamSpec[];
  byName: Map<string, ParamSpec>;
  total: number;
}

export function layerPrefix(l: number): string {
  return `transformer.h.${l}.`;
}

export function paramLayout(cfg: ArchConfig): ParamLayout {
  const { dModel: D, dMlp: M, nCtx: C, vocabSize: V } = cfg;
  const specs: ParamSpec[] = [];
  let offset = 0;
  const add = (name: string, shape: number[], init: ParamSpec['init'], decay = init === 'normal' || init === 'proj') => {
    const size = shape.reduce((a, b) => a * b, 1);
    specs.push({ name, shape, offset, size, init, decay });
    offset += size;
  };
  add('transformer.wte.weight', [V, D], 'normal');
  add('transformer.wpe.weight', [C, D], 'normal');
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = layerPrefix(l);
    add(p + 'ln_1.weight', [D], 'ones');
    add(p + 'ln_1.bias', [D], 'zeros');
    add(p + 'attn.c_attn.weight', [D, 3 * D], 'normal');
    add(p + 'attn.c_attn.bias', [3 * D], 'zeros');
    add(p + 'attn.c_proj.weight', [D, D], 'proj');
    add(p + 'attn.c_proj.bias', [D], 'zeros');
    add(p + 'ln_2.weight', [D], 'ones');
    add(p + 'ln_2.bias', [D], 'zeros');
    add(p + 'mlp.c_fc.weight', [D, M], 'normal');
    add(p + 'mlp.c_fc.bias', [M], 'zeros');
    add(p + 'mlp.c_proj.weight', [M, D], 'proj');
    add(p + 'mlp.c_proj.bias', [D], 'zeros');
  }
  add('transformer.ln_f.weight', [D], 'ones');
  add('transformer.ln_f.bias', [D], 'zeros');
  return { specs, byName: new Map(specs.map((s) => [s.name, s])), total: offset };
}

/** Standard normal via Box–Muller from the seeded generator. */
export function gaussian(rng: Rng): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/**
 * GPT-2's initialisation: N(0, 0.02) for embeddings and matrices, the residual-writing projections
 * (c_proj) scaled down by √(2·n_layer), layer-norm gains 1, biases 0. Deterministic per seed.
 */
export function initParams(cfg: ArchConfig, layout: ParamLayout, seed: number, std = 0.02, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(layout.total);
  const randn = gaussian(mulberry32(seed));
  for (const s of layout.specs) {
    const view = out.subarray(s.offset, s.offset + s.size);
    switch (s.init) {
      case 'ones':
        view.fill(1);
        break;
      case 'zeros':
        view.fill(0);
        break;
      case 'normal':
      case 'proj': {
        const sd = s.init === 'proj' ? std / Math.sqrt(2 * cfg.nLayers) : std;
        for (let i = 0; i < view.length; i++) view[i] = sd * randn();
      }
    }
  }
  return out;
}

export function paramView(flat: Float32Array, spec: ParamSpec): Float32Array {
  return flat.subarray(spec.offset, spec.offset + spec.size);
}
