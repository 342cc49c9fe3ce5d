/**
 * The reference's only data type, and the few numeric routines every family's forward pass needs.
 * Everything is float64 in plain loops: slow next to the engine, but short enough to check by eye.
 */

/** A row-major float64 array with its shape, e.g. [batch, pos, d_model]. */
export interface Tensor64 {
  data: Float64Array;
  shape: number[];
}

export const sizeOf = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

export function zeros(shape: number[]): Tensor64 {
  return { data: new Float64Array(sizeOf(shape)), shape: [...shape] };
}

export function clone(t: Tensor64): Tensor64 {
  return { data: t.data.slice(), shape: [...t.shape] };
}

/**
 * x [rows, n] @ w [n, m] (+ bias [m]) → [rows, m]. `w` is row-major [in, out], the layout of
 * GPT-2's Conv1D weights, so the inner loop walks both `w` and the output contiguously.
 */
export function matmul(x: Float64Array, rows: number, w: Float64Array, n: number, m: number, bias?: Float64Array): Float64Array {
  const out = new Float64Array(rows * m);
  for (let r = 0; r < rows; r++) rowTimes(out, r * m, x, r * n, w, n, m, bias);
  return out;
}

/** out[o, o + m) = x[xo, xo + n) @ w [n, m] (+ bias): one row of a product. */
export function rowTimes(out: Float64Array, o: number, x: Float64Array, xo: number, w: Float64Array, n: number, m: number, bias?: Float64Array): void {
  if (bias) out.set(bias, o);
  else out.fill(0, o, o + m);
  let k = 0;
  // four rows of w per sweep over the output: a quarter of the loads and stores of out
  for (; k + 4 <= n; k += 4) {
    const a0 = x[xo + k], a1 = x[xo + k + 1], a2 = x[xo + k + 2], a3 = x[xo + k + 3];
    const w0 = k * m, w1 = w0 + m, w2 = w1 + m, w3 = w2 + m;
    for (let j = 0; j < m; j++) out[o + j] += a0 * w[w0 + j] + a1 * w[w1 + j] + a2 * w[w2 + j] + a3 * w[w3 + j];
  }
  for (; k < n; k++) {
    const a = x[xo + k];
    const wk = k * m;
    for (let j = 0; j < m; j++) out[o + j] += a * w[wk + j];
  }
}

export function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
  return s;
}

/** Layer norm over the last axis of x [rows, d]: (x − mean)/√(var + eps)·w + b. */
export function layerNorm(x: Float64Array, d: number, w: Float64Array, b: Float64Array, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += d) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[o + i];
    mean /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[o + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / d + eps);
    for (let i = 0; i < d; i++) out[o + i] = (x[o + i] - mean) * inv * w[i] + b[i];
  }
  return out;
}

/** Softmax over the last axis of x [rows, n], in place. */
export function softmaxRows(x: Float64Array, n: number): void {
  for (let o = 0; o < x.length; o += n) {
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, x[o + i]);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += x[o + i] = Math.exp(x[o + i] - max);
    for (let i = 0; i < n; i++) x[o + i] /= sum;
  }
}

export function add(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** erf(x) to about 1e-15: the everywhere-convergent series of positive terms
 *  erf(x) = 2/√π · e^{−x²} · Σ_n 2ⁿ x^{2n+1} / (1·3·…·(2n+1)), which has no cancellation. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x); // 1 − erf(6) ≈ 2e−17
  let term = ax;
  let sum = ax;
  for (let n = 1; term > 1e-17 * sum; n++) {
    term *= (2 * ax * ax) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const GELU_C = Math.sqrt(2 / Math.PI);

/** config.json's `activation_function`, each as transformers' ACT2FN defines it. */
export const ACTIVATIONS: Record<string, (x: number) => number> = {
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_new: (x) => 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x))),
  gelu_pytorch_tanh: (x) => 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x))),
  // transformers' FastGELUActivation rounds √(2/π) to 0.7978845608
  gelu_fast: (x) => 0.5 * x * (1 + Math.tanh(x * 0.7978845608 * (1 + 0.044715 * x * x))),
  quick_gelu: (x) => x * sigmoid(1.702 * x),
  relu: (x) => Math.max(0, x),
  silu: (x) => x * sigmoid(x),
  swish: (x) => x * sigmoid(x),
};
