/**
 * The rotary decoders in float64 — Llama, Mistral, Qwen2 (RMSNorm, SwiGLU, grouped-query attention)
 * and GPT-NeoX (LayerNorm, GELU, partial rotary, parallel attention and MLP) — with every
 * TransformerLens hook point, as gpt2.ts has them (split qkv inputs, per-head results, hook_mlp_in).
 * llama.ts and neox.ts read their checkpoints into the per-head layout used here.
 *
 * Rotary embeddings are computed pair by pair, Hugging Face's rotate_half convention: dimension i
 * of a head (i < dims/2) turns with dimension i + dims/2 by the angle p·θ_i; dimensions ≥ dims pass.
 *
 * Shapes: batch B, positions P, d_model D, query heads H, key/value heads K (query head h reads
 * key/value head ⌊h·K/H⌋), d_head dh, d_mlp M, vocabulary V.
 */
import { attentionOutput, hookCaller, RefTransformer, weightValues, type At } from './family.ts';
import type { RefConfig, RefHook, RunOptions } from './model.ts';
import { ACTIVATIONS, add, dot, layerNorm, rowTimes, softmaxRows, type Tensor64 } from './tensor.ts';

export interface Projection {
  W: Float64Array[]; // [head] [D, dh]
  b: Float64Array[]; // [head] [dh] (zeros without a bias)
  all: Float64Array; // [D, heads·dh]
  bAll: Float64Array; // [heads·dh]
}

export interface RotaryLayer {
  ln1w: Float64Array; ln1b?: Float64Array; // no bias: RMSNorm
  ln2w: Float64Array; ln2b?: Float64Array;
  Q: Projection; K: Projection; V: Projection;
  WO: Float64Array[]; bO: Float64Array; // [head] [dh, D], [D]
  Win: Float64Array; bIn: Float64Array; // [D, M]: the gate (SwiGLU) or the first MLP layer
  Wup?: Float64Array; bUp?: Float64Array; // [D, M]: SwiGLU's up projection
  Wout: Float64Array; bOut: Float64Array; // [M, D]
}

export interface RotarySpec {
  config: RefConfig;
  norm: 'layer' | 'rms';
  /** rotated leading dimensions of each head, and θ_i for i < rotaryDims/2 */
  rotaryDims: number;
  theta: number[];
  /** prompts longer than this are refused (Mistral's sliding window) */
  window?: number;
  WE: Float64Array; // [V, D]
  layers: RotaryLayer[];
  lnfW: Float64Array; lnfB?: Float64Array;
  WU: Float64Array; // [V, D]: one row per token
}

const MASKED = -1e30;

function rmsNorm(x: Float64Array, d: number, w: Float64Array, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += d) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[o + i] * x[o + i];
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) out[o + i] = x[o + i] * inv * w[i];
  }
  return out;
}

export class RotaryDecoderRef extends RefTransformer {
  constructor(private readonly s: RotarySpec) {
    super(s.config, s.WU);
  }

  private norm(x: Float64Array, w: Float64Array, b: Float64Array | undefined): Float64Array {
    const { dModel: D, eps } = this.config;
    return this.s.norm === 'rms' ? rmsNorm(x, D, w, eps) : layerNorm(x, D, w, b!, eps);
  }

  residual(tokens: number[][], hook?: RefHook, o: RunOptions = {}): Tensor64 {
    const { dModel: D, dVocab: V, nCtx } = this.config;
    const B = tokens.length;
    const P = tokens[0].length;
    if (tokens.some((t) => t.length !== P)) throw new Error('prompts of a batch must have equal lengths');
    if (P > nCtx) throw new Error(`${P} positions exceed max_position_embeddings ${nCtx}`);
    if (this.s.window !== undefined && P > this.s.window) throw new Error(`${P} positions exceed the sliding window ${this.s.window}`);
    const at = hookCaller(hook);
    const embed = new Float64Array(B * P * D);
    tokens.forEach((row, b) =>
      row.forEach((t, p) => {
        if (!(Number.isInteger(t) && t >= 0 && t < V)) throw new Error(`token ${t} at [${b}][${p}] is not below vocab_size ${V}`);
        embed.set(this.s.WE.subarray(t * D, (t + 1) * D), (b * P + p) * D);
      }),
    );
    const L = this.config.nLayers;
    let x = o.from ? o.from.residPre.data : at('hook_embed', embed, [B, P, D]);
    for (let l = o.from?.layer ?? 0; l < L; l++) x = this.block(l, this.s.layers[l], x, B, P, o.lastOnly && l === L - 1 ? P - 1 : 0, at);
    return { data: at('ln_final.hook_normalized', this.norm(x, this.s.lnfW, this.s.lnfB), [B, P, D]), shape: [B, P, D] };
  }

  /** q or k [B, P, heads, dh] rotated by position, rows p ≥ first */
  private rotate(x: Float64Array, B: number, P: number, heads: number, first: number): Float64Array {
    const dh = this.config.dHead;
    const half = this.s.rotaryDims / 2;
    const out = x.slice();
    for (let b = 0; b < B; b++)
      for (let p = first; p < P; p++)
        for (let h = 0; h < heads; h++) {
          const o = ((b * P + p) * heads + h) * dh;
          for (let i = 0; i < half; i++) {
            const c = Math.cos(p * this.s.theta[i]);
            const s = Math.sin(p * this.s.theta[i]);
            const x1 = x[o + i];
            const x2 = x[o + i + half];
            out[o + i] = x1 * c - x2 * s;
            out[o + i + half] = x2 * c + x1 * s;
          }
        }
    return out;
  }

  private block(l: number, w: RotaryLayer, x0: Float64Array, B: number, P: number, first: number, at: At): Float64Array {
    const { dModel: D, nHeads: H, nKvHeads: K, dHead: dh, dMlp: M } = this.config;
    const n = `blocks.${l}.`;
    const rows = (from: number) => Array.from({ length: B * (P - from) }, (_, i) => Math.floor(i / (P - from)) * P + from + (i % (P - from)));
    const resid = at(n + 'hook_resid_pre', x0, [B, P, D]);
    const normed = this.norm(resid, w.ln1w, w.ln1b);
    // Each head reads its own copy of the residual (TransformerLens's split qkv input), k and v per KV head.
    const project = (name: string, p: Projection, heads: number, from: number) => {
      const copies = new Float64Array(B * P * heads * D);
      for (let r = 0; r < B * P; r++) for (let h = 0; h < heads; h++) copies.set(resid.subarray(r * D, (r + 1) * D), (r * heads + h) * D);
      const hooked = at(n + name, copies, [B, P, heads, D]);
      const out = new Float64Array(B * P * heads * dh);
      if (hooked === copies) {
        for (const r of rows(from)) rowTimes(out, r * heads * dh, normed, r * D, p.all, D, heads * dh, p.bAll);
        return out;
      }
      const own = this.norm(hooked, w.ln1w, w.ln1b);
      for (const r of rows(from)) for (let h = 0; h < heads; h++) rowTimes(out, (r * heads + h) * dh, own, (r * heads + h) * D, p.W[h], D, dh, p.b[h]);
      return out;
    };
    const q = at(n + 'attn.hook_q', project('hook_q_input', w.Q, H, first), [B, P, H, dh]);
    const k = at(n + 'attn.hook_k', project('hook_k_input', w.K, K, 0), [B, P, K, dh]);
    const v = at(n + 'attn.hook_v', project('hook_v_input', w.V, K, 0), [B, P, K, dh]);
    const rq = at(n + 'attn.hook_rot_q', this.rotate(q, B, P, H, first), [B, P, H, dh]);
    const rk = at(n + 'attn.hook_rot_k', this.rotate(k, B, P, K, 0), [B, P, K, dh]);
    const kvOf = (h: number) => Math.floor((h * K) / H);

    const scale = this.config.attnScale[l];
    const scores = new Float64Array(B * H * P * P);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let i = first; i < P; i++)
          for (let j = 0; j < P; j++) {
            scores[((b * H + h) * P + i) * P + j] = j <= i ? scale * dot(rq, ((b * P + i) * H + h) * dh, rk, ((b * P + j) * K + kvOf(h)) * dh, dh) : MASKED;
          }
    const pattern = at(n + 'attn.hook_attn_scores', scores, [B, H, P, P]).slice();
    for (let bh = 0; bh < B * H; bh++) softmaxRows(pattern.subarray((bh * P + first) * P, (bh + 1) * P * P), P);
    const pat = at(n + 'attn.hook_pattern', pattern, [B, H, P, P]);
    const zRaw = weightValues(pat, v, { B, P, H, K: K, dh }, first); // [B, P, H, dh]
    const z = at(n + 'attn.hook_z', zRaw, [B, P, H, dh]);
    const attnOut = attentionOutput(n, z, w.WO, w.bO, { B, P, H, dh, D }, rows(first), at);
    const parallel = this.config.parallelAttnMlp;
    const mid = parallel ? resid : at(n + 'hook_resid_mid', add(resid, attnOut), [B, P, D]);

    const mlpIn = at(n + 'hook_mlp_in', mid.slice(), [B, P, D]);
    const h2 = this.norm(mlpIn, w.ln2w, w.ln2b);
    const preRaw = new Float64Array(B * P * M);
    for (const r of rows(first)) rowTimes(preRaw, r * M, h2, r * D, w.Win, D, M, w.bIn);
    const pre = at(n + 'mlp.hook_pre', preRaw, [B, P, M]);
    const act = ACTIVATIONS[this.config.activation];
    const postRaw = new Float64Array(pre.length);
    if (w.Wup) {
      const upRaw = new Float64Array(B * P * M);
      for (const r of rows(first)) rowTimes(upRaw, r * M, h2, r * D, w.Wup, D, M, w.bUp);
      const up = at(n + 'mlp.hook_pre_linear', upRaw, [B, P, M]);
      for (let i = 0; i < pre.length; i++) postRaw[i] = act(pre[i]) * up[i];
    } else for (let i = 0; i < pre.length; i++) postRaw[i] = act(pre[i]);
    const post = at(n + 'mlp.hook_post', postRaw, [B, P, M]);
    const outRaw = new Float64Array(B * P * D);
    for (const r of rows(first)) rowTimes(outRaw, r * D, post, r * M, w.Wout, M, D, w.bOut);
    const mlpOut = at(n + 'hook_mlp_out', outRaw, [B, P, D]);
    const sum = parallel ? add(add(resid, attnOut), mlpOut) : add(mid, mlpOut);
    return at(n + 'hook_resid_post', sum, [B, P, D]);
  }
}

/** The per-head layout of a projection from its [D, heads·dh] matrix (and bias). */
export function perHead(all: Float64Array, bAll: Float64Array, D: number, heads: number, dh: number): Projection {
  const cols = heads * dh;
  const W = Array.from({ length: heads }, (_, h) => {
    const out = new Float64Array(D * dh);
    for (let r = 0; r < D; r++) out.set(all.subarray(r * cols + h * dh, r * cols + (h + 1) * dh), r * dh);
    return out;
  });
  const b = Array.from({ length: heads }, (_, h) => bAll.slice(h * dh, (h + 1) * dh));
  return { W, b, all, bAll };
}

/** nn.Linear's [out, in] as [in, out] */
export function transposed(w: Float64Array, out: number, inp: number): Float64Array {
  const t = new Float64Array(w.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) t[i * out + o] = w[o * inp + i];
  return t;
}

/** W_O [head][dh, D] from a [heads·dh, D] matrix */
export function outputHeads(wo: Float64Array, heads: number, dh: number, D: number): Float64Array[] {
  return Array.from({ length: heads }, (_, h) => wo.slice(h * dh * D, (h + 1) * dh * D));
}
