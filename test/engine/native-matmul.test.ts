/**
 * The native matmul (native/sgemm) behind the wasm backend: every shape class its blocking has edge
 * cases for, against a float64 product computed here; the calls it must leave to tfjs; the addon's
 * own argument checks; and the switch that turns it off.
 */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { backendLabel } from '../../main/engine/backend.ts';
import { fastTransposedMatMul, matmulName } from '../../main/engine/native-matmul.ts';
import { mulberry32 } from '../../main/engine/tasks/random.ts';
import { assertClose, readJson, ROOT, runCli, TINY, useBackend } from '../helpers.ts';

const ADDON = join(ROOT, 'native/sgemm/build/Release/sgemm.node');
const built = existsSync(ADDON);
const skip = built ? false : 'the native matmul was not built here (npm run build:native); the engine uses tfjs kernels';

function random(n: number, seed: number): Float32Array {
  const rng = mulberry32(seed);
  return Float32Array.from({ length: n }, () => rng() * 2 - 1);
}

/** float64 a [rows, K] · b [K, N] (+ bias) */
function reference(a: Float32Array, b: Float32Array, bias: Float32Array | undefined, rows: number, K: number, N: number): Float64Array {
  const out = new Float64Array(rows * N);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < N; j++) {
      let s = bias ? bias[j] : 0;
      for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
      out[i * N + j] = s;
    }
  }
  return out;
}

function assertNear(actual: Float32Array, expected: Float64Array, K: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const tol = 1e-6 * Math.sqrt(K) + 1e-6; // float32 rounding of a K-term sum of O(1) terms
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

function cli(args: string[], env: Record<string, string>): string {
  const r = runCli(args, env);
  assert.equal(r.code, 0, r.err);
  return r.out;
}

describe('native matmul', { skip }, () => {
  before(() => useBackend('wasm'));

  test('is what the wasm backend uses, and is reported', () => {
    assert.equal(matmulName(), 'AVX2');
    assert.equal(backendLabel(), 'wasm + native AVX2 matmul');
  });

  // Rows around the 6-row tile and the 12-row unpacked limit, columns around the 16-wide panel and
  // the 768-column block, depths around the 256-deep block.
  const shapes: [number, number, number][] = [
    [1, 1, 1], [1, 768, 3072], [5, 17, 15], [6, 256, 16], [7, 257, 17], [12, 64, 33], [13, 300, 770], [64, 600, 50], [100, 768, 2304],
  ];
  for (const [M, K, N] of shapes) {
    test(`fused matmul with bias, ${M}×${K} · ${K}×${N}`, () => {
      const a = random(M * K, M), b = random(K * N, K), bias = random(N, N);
      const out = tf.tidy(() => tf.fused.matMul({ a: tf.tensor2d(a, [M, K]), b: tf.tensor2d(b, [K, N]), bias: tf.tensor1d(bias) }).dataSync() as Float32Array);
      assertNear(out, reference(a, b, bias, M, K, N), K, 'out');
    });
  }

  test('60 random shapes, with and without bias, and the empty product', () => {
    const rng = mulberry32(7);
    const pick = (n: number) => 1 + Math.floor(rng() * n);
    for (let t = 0; t < 60; t++) {
      const [M, K, N] = [pick(40), pick(600), pick(100)];
      const a = random(M * K, t), b = random(K * N, t + 100), bias = t % 2 ? random(N, t + 200) : undefined;
      const out = tf.tidy(() =>
        tf.fused.matMul({ a: tf.tensor2d(a, [M, K]), b: tf.tensor2d(b, [K, N]), bias: bias && tf.tensor1d(bias) }).dataSync() as Float32Array,
      );
      assertNear(out, reference(a, b, bias, M, K, N), K, `${M}×${K} · ${K}×${N}${bias ? ' + bias' : ''}`);
    }
    const empty = tf.tidy(() => tf.matMul(tf.zeros([0, 5]), tf.zeros([5, 3])));
    assert.deepEqual(empty.shape, [0, 3]);
    empty.dispose();
  });

  // a · bᵀ with b stored [N, K] (weights in nn.Linear's layout, the unembedding's rows): every
  // panel is packed from b's rows, including partial panels and blocks of K and N.
  const transposedShapes: [number, number, number][] = [[1, 1, 1], [8, 768, 3072], [5, 17, 15], [7, 257, 17], [13, 300, 770], [100, 64, 2304]];
  for (const [M, K, N] of transposedShapes) {
    test(`transposed-B matmul, ${M}×${K} · (${N}×${K})ᵀ, with and without bias`, () => {
      assert.equal(fastTransposedMatMul(), true);
      const a = random(M * K, M + 1), bt = random(N * K, K + 1), bias = random(N, N + 1);
      const b = new Float32Array(K * N);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) b[k * N + n] = bt[n * K + k];
      const [plain, fused] = tf.tidy(() => {
        const A = tf.tensor2d(a, [M, K]);
        const Bt = tf.tensor2d(bt, [N, K]);
        return [tf.matMul(A, Bt, false, true).dataSync(), tf.fused.matMul({ a: A, b: Bt, transposeB: true, bias: tf.tensor1d(bias) }).dataSync()] as Float32Array[];
      });
      assertNear(plain, reference(a, b, undefined, M, K, N), K, 'a · bᵀ');
      assertNear(fused, reference(a, b, bias, M, K, N), K, 'a · bᵀ + bias');
    });
  }

  test('plain matMul of a batch against one weight matrix: [2, 7, 40] · [40, 19]', () => {
    const a = random(2 * 7 * 40, 1), b = random(40 * 19, 2);
    const out = tf.tidy(() => tf.matMul(tf.tensor3d(a, [2, 7, 40]), tf.tensor2d(b, [40, 19])));
    assert.deepEqual(out.shape, [2, 7, 19]);
    assertNear(out.dataSync() as Float32Array, reference(a, b, undefined, 14, 40, 19), 40, 'out');
    out.dispose();
  });

  // Attention-shaped batches: 8- and 16-wide column blocks, odd columns, one query row, 4-D batches.
  // Then batches of large products, one packed product each (per-head projections), also with b transposed.
  const batches: [number[], number, number, number, boolean?][] = [
    [[3], 16, 64, 16], [[2], 5, 7, 9], [[4], 1, 64, 16], [[2, 3], 16, 16, 64], [[2], 6, 3, 27],
    [[2], 128, 64, 130], [[3], 7, 300, 300], [[3], 20, 30, 17, true], [[2], 130, 64, 65, true],
  ];
  for (const [lead, M, K, N, transB] of batches) {
    test(`batched matMul, [${lead}, ${M}, ${K}] · [${lead}, ${K}, ${N}]${transB ? ', b transposed' : ''}`, () => {
      const n = lead.reduce((x, y) => x * y, 1);
      const a = random(n * M * K, M + K), b = random(n * K * N, N);
      const out = tf.tidy(() => {
        const B = tf.tensor(b, [...lead, K, N]);
        return tf.matMul(tf.tensor(a, [...lead, M, K]), transB ? tf.transpose(B, [...lead.map((_, i) => i), lead.length + 1, lead.length]) : B, false, !!transB);
      });
      assert.deepEqual(out.shape, [...lead, M, N]);
      const got = out.dataSync() as Float32Array;
      out.dispose();
      for (let i = 0; i < n; i++) {
        const expected = reference(a.subarray(i * M * K, (i + 1) * M * K), b.subarray(i * K * N, (i + 1) * K * N), undefined, M, K, N);
        assertNear(got.subarray(i * M * N, (i + 1) * M * N), expected, K, `batch ${i}`);
      }
    });
  }

  test('leaves transposed-A, activated and broadcast-batch products to tfjs, with the same results (and takes batched transposed-B ones)', () => {
    const a = random(3 * 8, 3), b = random(8 * 5, 4);
    const expected = reference(a, b, undefined, 3, 8, 5);
    tf.tidy(() => {
      const A = tf.tensor2d(a, [3, 8]);
      const B = tf.tensor2d(b, [8, 5]);
      assertNear(tf.matMul(tf.stack([A, A]), tf.stack([tf.transpose(B), tf.transpose(B)]), false, true).dataSync() as Float32Array, Float64Array.from([...expected, ...expected]), 8, 'batched transposeB');
      assertNear(tf.matMul(tf.transpose(A), B, true, false).dataSync() as Float32Array, expected, 8, 'transposeA');
      const relu = expected.map((x) => Math.max(0, x));
      assertNear(tf.fused.matMul({ a: A, b: B, activation: 'relu' }).dataSync() as Float32Array, relu, 8, 'relu');
      const broadcast = tf.matMul(tf.stack([A]), tf.stack([B, B])).dataSync() as Float32Array;
      assertNear(broadcast, Float64Array.from([...expected, ...expected]), 8, 'one left matrix, two right');
    });
  });

  test('the addon checks its arguments', () => {
    const addon = createRequire(import.meta.url)(ADDON);
    const f = new Float32Array(4);
    assert.throws(() => addon.sgemm(f, f, null, f, 3, 2, 2), /shorter than its shape/);
    assert.throws(() => addon.sgemm([1], f, null, f, 1, 1, 1), /must be Float32Arrays/);
    assert.throws(() => addon.sgemm(f, f, null, f, 1, -1, 1), /non-negative integers/);
    assert.throws(() => addon.sgemmBatched(f, f, f, 2, 1, 2, 2), /shorter than its shape/);
    assert.throws(() => addon.sgemmTransB(f, f, null, f, 2, 2, 3), /shorter than its shape/);
  });

  test('PATCHBENCH_NATIVE_MATMUL=0 turns it off', () => {
    const info = (env: Record<string, string>) => JSON.parse(cli(['info', '--model', TINY, '--json'], env)).backend;
    assert.equal(info({ PATCHBENCH_NATIVE_MATMUL: '0' }), 'wasm');
    assert.equal(info({}), 'wasm + native AVX2 matmul');
  });
});

// Where the addon does not build, the engine runs on tfjs-wasm's kernels: that path must match the
// reference too (the parity suite runs wasm with the addon where it is built).
test('without the native matmul, patching on wasm still matches the float64 reference', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'patchbench-tfjs-kernels-'));
  try {
    const out = join(tmp, 'out.json');
    const kinds = ['head_z', 'resid_pre', 'mlp_out', 'neuron'];
    cli(['patch', '--model', TINY, '--pairs', `${TINY}/expected/ioi.pairs.jsonl`, '--kinds', kinds.join(','), '--method', 'both', '--out', out], {
      PATCHBENCH_NATIVE_MATMUL: '0',
    });
    const got = JSON.parse(readFileSync(out, 'utf8'));
    const expected = readJson(`${TINY}/expected/ioi-denoising.expected.json`);
    for (const kind of kinds) {
      for (const field of ['attribution', 'activation']) {
        assertClose(got.kinds[kind].map((r: any) => r[field]), expected.kinds[kind].map((r: any) => r[field]), 1e-3, `${kind} ${field}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
