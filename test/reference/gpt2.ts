/**
 * GPT-2 in float64, with every TransformerLens hook point (use_split_qkv_input, use_attn_result and
 * use_hook_mlp_in all on). Weights are taken from the Hugging Face checkpoint into TransformerLens's
 * per-head layout: W_Q/W_K/W_V [head][d_model, d_head] from c_attn's column blocks, W_O
 * [head][d_head, d_model] from c_proj's row blocks.
 *
 * Shapes: batch B, positions P, d_model D, heads H, d_head dh, d_mlp M, vocabulary V.
 */
import { attentionOutput, configNumbers, hookCaller, openCheckpoint, RefTransformer, weightValues, type At } from './family.ts';
import type { RefConfig, RefHook, RefModel, RunOptions } from './model.ts';
import type { StoredTensor } from './safetensors.ts';
import { ACTIVATIONS, add, dot, layerNorm, rowTimes, softmaxRows, type Tensor64 } from './tensor.ts';

interface Projection {
  W: Float64Array[]; // [head] [D, dh]
  b: Float64Array[]; // [head] [dh]
  all: Float64Array; // [D, H·dh]: every head at once
  bAll: Float64Array; // [H·dh]
}

interface Layer {
  ln1w: Float64Array; ln1b: Float64Array;
  Q: Projection; K: Projection; V: Projection;
  WO: Float64Array[]; bO: Float64Array; // [head] [dh, D], [D]
  ln2w: Float64Array; ln2b: Float64Array;
  Win: Float64Array; bIn: Float64Array; // [D, M], [M]
  Wout: Float64Array; bOut: Float64Array; // [M, D], [D]
}

/** Masked scores (key after query) are this rather than −∞, so differences of caches stay finite. */
const MASKED = -1e30;

function gpt2Config(raw: Record<string, unknown>, dtypes: string[], where: string): RefConfig {
  const num = configNumbers(raw, where);
  const activation = String(raw.activation_function ?? 'gelu_new');
  if (!(activation in ACTIVATIONS)) throw new Error(`${where}: activation_function "${activation}" is not in the reference`);
  if (raw.add_cross_attention) throw new Error(`${where}: add_cross_attention needs an encoder; the reference runs decoders only`);
  const D = num('n_embd');
  const H = num('n_head');
  const L = num('n_layer');
  const dh = D / H;
  // transformers: scores / √d_head if scale_attn_weights, and / (layer + 1) if
  // scale_attn_by_inverse_layer_idx. reorder_and_upcast_attn only changes the order of float16/32
  // roundings, which float64 does not have.
  const byDh = (raw.scale_attn_weights ?? true) ? 1 / Math.sqrt(dh) : 1;
  const attnScale = Array.from({ length: L }, (_, l) => (raw.scale_attn_by_inverse_layer_idx ? byDh / (l + 1) : byDh));
  return {
    modelType: 'gpt2',
    nLayers: L,
    nHeads: H,
    nKvHeads: H,
    dModel: D,
    dHead: dh,
    dMlp: raw.n_inner == null ? 4 * D : num('n_inner'),
    dVocab: num('vocab_size'),
    nCtx: num('n_positions', raw.n_ctx as number | undefined),
    eps: num('layer_norm_epsilon', 1e-5),
    activation,
    parallelAttnMlp: false,
    attnScale,
    bosTokenId: num('bos_token_id', 50256),
    dtypes,
  };
}

export function loadGpt2Ref(dir: string, raw: Record<string, unknown>): RefModel {
  const { stored, get, dtypes } = openCheckpoint(dir, 'transformer.');
  const cfg = gpt2Config(raw, dtypes, `${dir}/config.json`);
  const { dModel: D, nHeads: H, dHead: dh } = cfg;
  /** columns [c0, c0 + n) of a [rows, cols] matrix */
  const columns = (t: StoredTensor, c0: number, n: number) => {
    const [rows, cols] = t.shape;
    const out = new Float64Array(rows * n);
    for (let r = 0; r < rows; r++) out.set(t.data.subarray(r * cols + c0, r * cols + c0 + n), r * n);
    return out;
  };
  const heads = (w: StoredTensor, b: StoredTensor, block: number): Projection => ({
    W: Array.from({ length: H }, (_, h) => columns(w, block * D + h * dh, dh)),
    b: Array.from({ length: H }, (_, h) => b.data.slice(block * D + h * dh, block * D + (h + 1) * dh)),
    all: columns(w, block * D, D),
    bAll: b.data.slice(block * D, (block + 1) * D),
  });
  const layers: Layer[] = [];
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = (s: string) => get(`h.${l}.${s}`);
    const [q, k, v] = [0, 1, 2].map((i) => heads(p('attn.c_attn.weight'), p('attn.c_attn.bias'), i));
    const cProj = p('attn.c_proj.weight').data; // [D, D]: rows h·dh … (h+1)·dh belong to head h
    layers.push({
      ln1w: p('ln_1.weight').data, ln1b: p('ln_1.bias').data,
      Q: q, K: k, V: v,
      WO: Array.from({ length: H }, (_, h) => cProj.slice(h * dh * D, (h + 1) * dh * D)),
      bO: p('attn.c_proj.bias').data,
      ln2w: p('ln_2.weight').data, ln2b: p('ln_2.bias').data,
      Win: p('mlp.c_fc.weight').data, bIn: p('mlp.c_fc.bias').data,
      Wout: p('mlp.c_proj.weight').data, bOut: p('mlp.c_proj.bias').data,
    });
  }
  const WE = get('wte.weight').data; // [V, D]
  if (raw.tie_word_embeddings === false && !stored.has('lm_head.weight')) throw new Error(`${dir}: untied embeddings without lm_head.weight`);
  const WU = (stored.get('lm_head.weight') ?? get('wte.weight')).data; // [V, D]: one row per token
  return new Gpt2Ref(cfg, WE, get('wpe.weight').data, layers, get('ln_f.weight').data, get('ln_f.bias').data, WU);
}

class Gpt2Ref extends RefTransformer {
  constructor(
    config: RefConfig,
    private readonly WE: Float64Array,
    private readonly Wpos: Float64Array,
    private readonly layers: Layer[],
    private readonly lnfW: Float64Array,
    private readonly lnfB: Float64Array,
    WU: Float64Array,
  ) {
    super(config, WU);
  }

  residual(tokens: number[][], hook?: RefHook, o: RunOptions = {}): Tensor64 {
    const { dModel: D, dVocab: V, nCtx, eps } = this.config;
    const B = tokens.length;
    const P = tokens[0].length;
    if (tokens.some((t) => t.length !== P)) throw new Error('prompts of a batch must have equal lengths');
    if (P > nCtx) throw new Error(`${P} positions exceed n_positions ${nCtx}`);
    const at = hookCaller(hook);
    const embed = new Float64Array(B * P * D);
    const pos = new Float64Array(B * P * D);
    tokens.forEach((row, b) =>
      row.forEach((t, p) => {
        if (!(Number.isInteger(t) && t >= 0 && t < V)) throw new Error(`token ${t} at [${b}][${p}] is not below vocab_size ${V}`);
        embed.set(this.WE.subarray(t * D, (t + 1) * D), (b * P + p) * D);
        pos.set(this.Wpos.subarray(p * D, (p + 1) * D), (b * P + p) * D);
      }),
    );
    const L = this.config.nLayers;
    let x = o.from ? o.from.residPre.data : add(at('hook_embed', embed, [B, P, D]), at('hook_pos_embed', pos, [B, P, D]));
    for (let l = o.from?.layer ?? 0; l < L; l++) x = this.block(l, this.layers[l], x, B, P, o.lastOnly && l === L - 1 ? P - 1 : 0, at);
    return { data: at('ln_final.hook_normalized', layerNorm(x, D, this.lnfW, this.lnfB, eps), [B, P, D]), shape: [B, P, D] };
  }

  /**
   * resid_pre [B, P, D] → resid_post [B, P, D]. Queries, attention outputs and the MLP are computed
   * at positions ≥ `first` only (keys and values everywhere); the other rows stay zero.
   */
  private block(l: number, w: Layer, x0: Float64Array, B: number, P: number, first: number, at: At): Float64Array {
    const { dModel: D, nHeads: H, dHead: dh, dMlp: M, eps } = this.config;
    const n = `blocks.${l}.`;
    /** the rows b·P + p, p ≥ from, of a [B, P, …] tensor */
    const rows = (from: number) => Array.from({ length: B * (P - from) }, (_, i) => Math.floor(i / (P - from)) * P + from + (i % (P - from)));
    const resid = at(n + 'hook_resid_pre', x0, [B, P, D]);
    // Each head reads its own copy of the residual and normalises it (TransformerLens's split qkv input).
    const copies = new Float64Array(B * P * H * D); // [B, P, H, D]
    for (let r = 0; r < B * P; r++) for (let h = 0; h < H; h++) copies.set(resid.subarray(r * D, (r + 1) * D), (r * H + h) * D);
    const normed = layerNorm(resid, D, w.ln1w, w.ln1b, eps); // [B, P, D]
    const project = (name: string, p: Projection, first: number) => {
      const input = copies.slice();
      const hooked = at(n + name, input, [B, P, H, D]);
      const out = new Float64Array(B * P * H * dh); // [B, P, H, dh]
      if (hooked === input) {
        // untouched copies all normalise to `normed`: one product serves every head
        for (const r of rows(first)) rowTimes(out, r * H * dh, normed, r * D, p.all, D, H * dh, p.bAll);
        return out;
      }
      const own = layerNorm(hooked, D, w.ln1w, w.ln1b, eps);
      for (const r of rows(first)) for (let h = 0; h < H; h++) rowTimes(out, (r * H + h) * dh, own, (r * H + h) * D, p.W[h], D, dh, p.b[h]);
      return out;
    };
    const qIn = project('hook_q_input', w.Q, first);
    const kIn = project('hook_k_input', w.K, 0);
    const vIn = project('hook_v_input', w.V, 0);
    const q = at(n + 'attn.hook_q', qIn, [B, P, H, dh]);
    const k = at(n + 'attn.hook_k', kIn, [B, P, H, dh]);
    const v = at(n + 'attn.hook_v', vIn, [B, P, H, dh]);

    const scale = this.config.attnScale[l];
    const scores = new Float64Array(B * H * P * P); // [B, H, q_pos, k_pos]
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let i = first; i < P; i++)
          for (let j = 0; j < P; j++) {
            const s = j <= i ? scale * dot(q, ((b * P + i) * H + h) * dh, k, ((b * P + j) * H + h) * dh, dh) : MASKED;
            scores[((b * H + h) * P + i) * P + j] = s;
          }
    const pattern = at(n + 'attn.hook_attn_scores', scores, [B, H, P, P]).slice();
    for (let bh = 0; bh < B * H; bh++) softmaxRows(pattern.subarray((bh * P + first) * P, (bh + 1) * P * P), P);
    const pat = at(n + 'attn.hook_pattern', pattern, [B, H, P, P]);
    const zRaw = weightValues(pat, v, { B, P, H, K: H, dh }, first); // [B, P, H, dh]
    const z = at(n + 'attn.hook_z', zRaw, [B, P, H, dh]);
    const attnOut = attentionOutput(n, z, w.WO, w.bO, { B, P, H, dh, D }, rows(first), at);
    const mid = at(n + 'hook_resid_mid', add(resid, attnOut), [B, P, D]);

    const mlpIn = at(n + 'hook_mlp_in', mid.slice(), [B, P, D]);
    const h2 = layerNorm(mlpIn, D, w.ln2w, w.ln2b, eps);
    const preRaw = new Float64Array(B * P * M);
    for (const r of rows(first)) rowTimes(preRaw, r * M, h2, r * D, w.Win, D, M, w.bIn);
    const pre = at(n + 'mlp.hook_pre', preRaw, [B, P, M]);
    const act = ACTIVATIONS[this.config.activation];
    const postRaw = new Float64Array(pre.length);
    for (let i = 0; i < pre.length; i++) postRaw[i] = act(pre[i]);
    const post = at(n + 'mlp.hook_post', postRaw, [B, P, M]);
    const outRaw = new Float64Array(B * P * D);
    for (const r of rows(first)) rowTimes(outRaw, r * D, post, r * M, w.Wout, M, D, w.bOut);
    const mlpOut = at(n + 'hook_mlp_out', outRaw, [B, P, D]);
    return at(n + 'hook_resid_post', add(mid, mlpOut), [B, P, D]);
  }
}
