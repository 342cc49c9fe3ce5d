/**
 * Rotary position embeddings in Hugging Face's `rotate_half` layout: the rotated dimensions of a head
 * are split in two halves, and dimension i is paired with i + dims/2 at angle p·θ_i. Dimensions past
 * `dims` (partial rotary, GPT-NeoX) pass through.
 *
 *     rot(x) = x ⊙ cos + swap(x) ⊙ sin±,   swap(x) = [x₂, x₁, rest],   sin± = [−sin, +sin, 0]
 *
 * swap is its own transpose, so the backward pass is g ⊙ cos + swap(g ⊙ sin±).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RotaryConfig } from '../config.ts';

export class Rotary {
  private tables = new Map<string, { cos: tf.Tensor3D; sin: tf.Tensor3D }>();
  constructor(
    private readonly cfg: RotaryConfig,
    private readonly dHead: number,
  ) {}

  /** cos and sin± for positions [start, start + len), shaped [len, 1, d_head] to broadcast over heads */
  private table(start: number, len: number) {
    const key = `${start}:${len}`;
    let t = this.tables.get(key);
    if (!t) {
      const { dims, invFreq } = this.cfg;
      const dh = this.dHead;
      const half = dims / 2;
      const cos = new Float32Array(len * dh).fill(1);
      const sin = new Float32Array(len * dh);
      for (let p = 0; p < len; p++) {
        for (let i = 0; i < half; i++) {
          const angle = (start + p) * invFreq[i]; // float64, rounded once
          const c = Math.cos(angle);
          const s = Math.sin(angle);
          cos[p * dh + i] = c;
          cos[p * dh + i + half] = c;
          sin[p * dh + i] = -s;
          sin[p * dh + i + half] = s;
        }
      }
      t = { cos: tf.keep(tf.tensor3d(cos, [len, 1, dh])), sin: tf.keep(tf.tensor3d(sin, [len, 1, dh])) };
      if (this.tables.size > 256) this.dispose();
      this.tables.set(key, t);
    }
    return t;
  }

  /** [x₂, x₁, rest] along the last axis */
  private swap(x: tf.Tensor): tf.Tensor {
    const { dims } = this.cfg;
    const half = dims / 2;
    const last = x.shape.length - 1;
    const part = (from: number, to: number) => tf.slice(x, x.shape.map((_, i) => (i === last ? from : 0)), x.shape.map((d, i) => (i === last ? to - from : d)));
    const parts = [part(half, dims), part(0, half)];
    if (dims < this.dHead) parts.push(part(dims, this.dHead));
    return tf.concat(parts, last);
  }

  /** x [N, L, heads, d_head] at positions [start, start + L) → rotated, same shape */
  apply(x: tf.Tensor, start: number): tf.Tensor {
    const { cos, sin } = this.table(start, x.shape[1]!);
    return tf.add(tf.mul(x, cos), tf.mul(this.swap(x), sin));
  }

  /** ∂/∂x from ∂/∂rot(x), same shapes as apply */
  backward(g: tf.Tensor, start: number): tf.Tensor {
    const { cos, sin } = this.table(start, g.shape[1]!);
    return tf.add(tf.mul(g, cos), this.swap(tf.mul(g, sin)));
  }

  dispose(): void {
    for (const t of this.tables.values()) tf.dispose([t.cos, t.sin]);
    this.tables.clear();
  }
}
