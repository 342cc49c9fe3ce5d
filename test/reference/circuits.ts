/**
 * Edge attribution and circuit faithfulness in float64, by their definitions, on the reference
 * model's split inputs (hook_q_input / hook_k_input / hook_v_input [batch, pos, head, d_model],
 * hook_mlp_in [batch, pos, d_model]) and per-head results (attn.hook_result). No backward pass.
 *
 * - An edge u → v: u is `input` (blocks.0.hook_resid_pre), `a{l}.h{h}` (head h's slice of
 *   blocks.l.attn.hook_result) or `m{l}` (blocks.l.hook_mlp_out); v is `a{l}.h{h}q|k|v` (head h's
 *   copy in blocks.l.hook_q_input etc.), `m{l}` (blocks.l.hook_mlp_in) or `logits` (the last
 *   block's hook_resid_post, which ln_final reads).
 * - S(u → v): the directional derivative of the metric at the base run when Δz_u = z_u^src − z_u^base
 *   is added to v's own input copy only: (M(+εΔ) − M(−εΔ)) / 2ε, normalised like every effect.
 *   EAP-IG with m steps: the mean of that derivative over runs whose hook_resid_pre of block 0 is
 *   x_base + (k/m)(x_src − x_base), k = 0 … m − 1.
 * - Faithfulness of a set of edges C: the clean run in which every input v is rebuilt as
 *   x_v − Σ_{u → v ∉ C} (z_u − z_u^corrupted), with z_u this run's own outputs (read as the run
 *   goes) and z_u^corrupted the plain corrupted run's: (M_C − M_corrupted) / (M_clean − M_corrupted).
 */
import type { RefHook, RefModel, Tensor64 } from './model.ts';
import { PatchingRun, type Direction, type MetricName, type Pairs } from './patching.ts';

export interface RefEdge {
  src: string;
  dst: string;
}

/** Every edge, named as the issue names them (any order: callers match by name). */
export function refEdges(model: RefModel): RefEdge[] {
  const { nLayers: L, nHeads: H, parallelAttnMlp } = model.config;
  const Hkv = model.config.nKvHeads ?? H;
  const out: RefEdge[] = [];
  const upstream: string[] = ['input'];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) out.push(...upstream.map((src) => ({ src, dst: `a${l}.h${h}q` })));
    for (const kv of ['k', 'v']) for (let h = 0; h < Hkv; h++) out.push(...upstream.map((src) => ({ src, dst: `a${l}.h${h}${kv}` })));
    const heads = Array.from({ length: H }, (_, h) => `a${l}.h${h}`);
    out.push(...[...upstream, ...(parallelAttnMlp ? [] : heads)].map((src) => ({ src, dst: `m${l}` })));
    upstream.push(...heads, `m${l}`);
  }
  out.push(...upstream.map((src) => ({ src, dst: 'logits' })));
  return out;
}

/** z_u in a cache: [batch, pos, d_model] as a flat array. */
function outputOf(cache: (name: string) => Tensor64, u: string): Float64Array {
  if (u === 'input') return cache('blocks.0.hook_resid_pre').data;
  const m = /^m(\d+)$/.exec(u);
  if (m) return cache(`blocks.${m[1]}.hook_mlp_out`).data;
  const a = /^a(\d+)\.h(\d+)$/.exec(u)!;
  const r = cache(`blocks.${a[1]}.attn.hook_result`); // [B, P, H, D]
  const [B, P, H, D] = r.shape;
  const h = Number(a[2]);
  const out = new Float64Array(B * P * D);
  for (let bp = 0; bp < B * P; bp++) for (let d = 0; d < D; d++) out[bp * D + d] = r.data[(bp * H + h) * D + d];
  return out;
}

/** The hook an input v is read at, and the head axis index of its copy (undefined: no head axis). */
function inputSite(model: RefModel, v: string): { hook: string; head?: number } {
  if (v === 'logits') return { hook: `blocks.${model.config.nLayers - 1}.hook_resid_post` };
  const m = /^m(\d+)$/.exec(v);
  if (m) return { hook: `blocks.${m[1]}.hook_mlp_in` };
  const a = /^a(\d+)\.h(\d+)([qkv])$/.exec(v)!;
  return { hook: `blocks.${a[1]}.hook_${a[3]}_input`, head: Number(a[2]) };
}

/** Adds `delta` [B, P, D] to x (at one head's copy when `head` is given). */
function addAt(x: Tensor64, delta: Float64Array, scale: number, head?: number): Tensor64 {
  const data = x.data.slice();
  if (head === undefined) {
    for (let i = 0; i < data.length; i++) data[i] += scale * delta[i];
  } else {
    const [B, P, H, D] = x.shape;
    for (let bp = 0; bp < B * P; bp++) for (let d = 0; d < D; d++) data[(bp * H + head) * D + d] += scale * delta[bp * D + d];
  }
  return { data, shape: x.shape };
}

export class RefEdgeAttribution {
  readonly run: PatchingRun;
  constructor(
    readonly model: RefModel,
    pairs: Pairs,
    direction: Direction,
    metric: MetricName,
  ) {
    this.run = new PatchingRun(model, pairs, direction, metric);
  }

  private delta(u: string): Float64Array {
    const s = outputOf((n) => this.run.sourceCache.get(n)!, u);
    const b = outputOf((n) => this.run.baseCache.get(n)!, u);
    return s.map((x, i) => x - b[i]);
  }

  /** S(u → v) (EAP when steps = 1, else EAP-IG with that many steps), normalised. */
  score(u: string, v: string, steps = 1, eps = 1e-6): number {
    const du = this.delta(u);
    const site = inputSite(this.model, v);
    const embedSrc = this.run.sourceCache.get('blocks.0.hook_resid_pre')!.data;
    let sum = 0;
    for (let k = 0; k < steps; k++) {
      const hook = (sign: number): RefHook => (name, x) => {
        if (k > 0 && name === 'blocks.0.hook_resid_pre') return { data: x.data.map((b, i) => b + (k / steps) * (embedSrc[i] - b)), shape: x.shape };
        if (name === site.hook) return addAt(x, du, sign * eps, site.head);
        return undefined;
      };
      sum += (this.run.score(this.run.base, hook(1)) - this.run.score(this.run.base, hook(-1))) / (2 * eps);
    }
    return sum / steps / (this.run.clean - this.run.corrupted);
  }

  /** The attribution estimate of patching the whole input x_v (all of its own copy). */
  inputAttribution(v: string): number {
    const site = inputSite(this.model, v);
    const fixed = new Map<number, number>(site.head === undefined ? [] : [[2, site.head]]);
    return this.run.attribution(this.run.elementsOf(site.hook, fixed));
  }
}

/** F(C) for a set of edges given by "src->dst" names, by the patched clean run. */
export function refFaithfulness(model: RefModel, pairs: Pairs, metric: MetricName, circuit: Set<string>): number {
  const run = new PatchingRun(model, pairs, 'denoising', metric); // source = clean, base = corrupted
  const corr = (n: string) => run.baseCache.get(n)!;
  const edges = refEdges(model);
  const outside = new Map<string, string[]>(); // v → sources u with u → v not in C
  for (const e of edges) if (!circuit.has(`${e.src}->${e.dst}`)) outside.set(e.dst, [...(outside.get(e.dst) ?? []), e.src]);
  const own = new Map<string, Tensor64>(); // this run's outputs, as they are computed
  const inputs = new Map<string, { v: string; head?: number }[]>(); // hook → the inputs read there
  for (const e of edges) {
    const s = inputSite(model, e.dst);
    const list = inputs.get(s.hook) ?? [];
    if (!list.some((x) => x.v === e.dst)) list.push({ v: e.dst, head: s.head });
    inputs.set(s.hook, list);
  }
  const hook: RefHook = (name, x) => {
    if (name === 'blocks.0.hook_resid_pre' || name.endsWith('attn.hook_result') || name.endsWith('.hook_mlp_out')) own.set(name, x);
    const reads = inputs.get(name);
    if (!reads) return undefined;
    let out = x;
    for (const { v, head } of reads) {
      for (const u of outside.get(v) ?? []) {
        const mine = outputOf((n) => own.get(n)!, u);
        const theirs = outputOf(corr, u);
        out = addAt(out, mine.map((m, i) => m - theirs[i]), -1, head);
      }
    }
    return out;
  };
  return (run.score(pairs.clean, hook) - run.corrupted) / (run.clean - run.corrupted);
}
