/**
 * AdamW (Loshchilov & Hutter) over the flat parameter array, in plain JS: one pass over ~1M floats
 * takes a few milliseconds, far less than dispatching a dozen tfjs ops per tensor. Decoupled weight
 * decay applies only to tensors marked `decay` (matrices and embeddings, not biases or layer-norm
 * gains). Also the global-norm gradient clipping and the learning-rate schedule.
 */
import type { ParamLayout } from './params.ts';

export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export class AdamW {
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly decayMask: Uint8Array;
  private t = 0;

  constructor(
    layout: ParamLayout,
    readonly opts: AdamWOptions,
  ) {
    this.m = new Float32Array(layout.total);
    this.v = new Float32Array(layout.total);
    this.decayMask = new Uint8Array(layout.total);
    for (const s of layout.specs) if (s.decay) this.decayMask.fill(1, s.offset, s.offset + s.size);
  }

  /** One update of `params` in place with gradient `g` at learning rate `lr`. */
  step(params: Float32Array, g: Float32Array, lr: number): void {
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.opts;
    this.t++;
    const c1 = 1 / (1 - b1 ** this.t);
    const c2 = 1 / (1 - b2 ** this.t);
    const { m, v, decayMask } = this;
    const decay = lr * weightDecay;
    for (let i = 0; i < params.length; i++) {
      const gi = g[i];
      const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
      const vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
      let p = params[i];
      if (decayMask[i]) p -= decay * p;
      params[i] = p - (lr * mi * c1) / (Math.sqrt(vi * c2) + eps);
    }
  }
}

/** Scales `g` in place so its L2 norm is at most `maxNorm`; returns the norm before clipping. */
export function clipGlobalNorm(g: Float32Array, maxNorm: number): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  const norm = Math.sqrt(s);
  if (norm > maxNorm) {
    const k = maxNorm / norm;
    for (let i = 0; i < g.length; i++) g[i] *= k;
  }
  return norm;
}

/** Linear warm-up to `peak` over `warmup` steps, then cosine decay to `peak·finalFraction` at `total`. */
export function learningRate(step: number, o: { peak: number; warmup: number; total: number; finalFraction: number }): number {
  if (step < o.warmup) return (o.peak * (step + 1)) / o.warmup;
  const progress = Math.min(1, (step - o.warmup) / Math.max(1, o.total - o.warmup));
  const floor = o.peak * o.finalFraction;
  return floor + (o.peak - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
