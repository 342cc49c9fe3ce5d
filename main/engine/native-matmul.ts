/**
 * A faster matrix multiply for the wasm backend. tfjs-wasm's XNNPACK kernels are limited to 128-bit
 * SIMD without FMA (about 20 GFLOP/s per core on the build machine); the native addon in
 * native/sgemm (AVX2/FMA, built by `npm ci` where a C++ compiler is present) reaches 55–80 GFLOP/s.
 * Matrix multiplies are most of the engine's time, so this module swaps the wasm backend's
 * `_FusedMatMul` and `BatchMatMul` kernels for ones that call the addon directly on the wasm heap
 * (no copies).
 *
 * Taken over (no activation): products with one right-hand matrix for the whole batch (every weight
 * matmul), also with that matrix transposed (`a · bᵀ`: the backward pass and the unembedding read
 * weights in their stored layout instead of keeping transposed copies), batches of small
 * plain products (attention), and batches of large products, one packed product each (per-head
 * projections in circuits). Anything else goes to the original kernel. Where the addon is missing, did not build, or the CPU lacks
 * AVX2/FMA, nothing changes. `PATCHBENCH_NATIVE_MATMUL=0` turns it off.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

interface SgemmAddon {
  /** out[M, N] = a[M, K] · b[K, N] (+ bias[N]), row-major */
  sgemm(a: Float32Array, b: Float32Array, bias: Float32Array | null, out: Float32Array, M: number, K: number, N: number): void;
  /** out[M, N] = a[M, K] · bt[N, K]ᵀ (+ bias[N]) (absent from addons built before it existed) */
  sgemmTransB?(a: Float32Array, bt: Float32Array, bias: Float32Array | null, out: Float32Array, M: number, K: number, N: number): void;
  /** out[i] = a[i] · b[i] for i < batch: a [batch, M, K], b [batch, K, N] */
  sgemmBatched(a: Float32Array, b: Float32Array, out: Float32Array, batch: number, M: number, K: number, N: number): void;
  supported(): boolean;
}

/** What the wasm backend exposes of itself (tfjs-backend-wasm's BackendWasm). */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

type KernelArgs = { inputs: Record<string, tf.TensorInfo | undefined>; backend: unknown; attrs?: Record<string, unknown> };

/** The addon, from the source tree or beside the bundled app (both are two levels below the root). */
const ADDON = fileURLToPath(new URL('../../native/sgemm/build/Release/sgemm.node', import.meta.url));

function loadAddon(): SgemmAddon | undefined {
  if (process.env.PATCHBENCH_NATIVE_MATMUL === '0' || !existsSync(ADDON)) return undefined;
  try {
    const addon = createRequire(import.meta.url)(ADDON) as SgemmAddon;
    return addon.supported() ? addon : undefined;
  } catch {
    return undefined; // built for another platform or Node ABI: tfjs's own kernels it is
  }
}

const size = tf.util.sizeFromShape;

/** Right-hand matrices of batched products up to this size (floats) stay in L2 as they are read. */
const SMALL_B = 1 << 16;
/** Products of at least this many multiply-adds are worth packing even inside a batch. */
const LARGE_PRODUCT = 1 << 20;

/**
 * The native product for a plain `a [..., M, K] · b [K, N] (+ bias [N])` (b may have leading 1s),
 * or for a batch of small ones, `a [..., M, K] · b [..., K, N]` with the same leading dimensions (the
 * attention products); undefined when the call is neither (the caller then runs tfjs's kernel).
 */
function nativeMatMul(addon: SgemmAddon, { inputs, backend, attrs = {} }: KernelArgs): tf.TensorInfo | undefined {
  const { a, b, bias, preluActivationWeights } = inputs;
  const transB = !!attrs.transposeB;
  if (!a || !b || attrs.transposeA || preluActivationWeights || (transB && !addon.sgemmTransB)) return undefined;
  if (attrs.activation !== undefined && attrs.activation !== 'linear') return undefined;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const [M, K] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const N = transB ? bRows : bCols;
  if ((transB ? bCols : bRows) !== K) return undefined;
  if (bias && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== N)) return undefined;
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const shared = size(bBatch) === 1;
  const sameBatch = aBatch.length === bBatch.length && aBatch.every((d, i) => d === bBatch[i]);
  // Batches of large products (per-head projections: [H, N·P, d_head] @ [H, d_head, D]) run as one
  // packed product each; small ones (attention) in the unpacked batched kernel.
  const smallBatch = sameBatch && !bias && !transB && K * N <= SMALL_B && M * K * N < LARGE_PRODUCT;
  const eachPacked = sameBatch && !bias && !smallBatch;
  if (!shared && !smallBatch && !eachPacked) return undefined;
  const batch = tf.broadcast_util.assertAndGetBroadcastShape(aBatch, bBatch);
  const wasm = backend as WasmBackend;
  const out = wasm.makeOutput([...batch, M, N], 'float32');
  if (size(out.shape) === 0) return out; // nothing to compute (and empty tensors have no heap offset)
  // Views are taken after makeOutput, which may grow (and so replace) the heap's buffer.
  const heap = wasm.wasm.HEAPU8.buffer;
  const view = (t: tf.TensorInfo) => new Float32Array(heap, wasm.dataIdMap.get(t.dataId).memoryOffset, size(t.shape));
  if (shared) (transB ? addon.sgemmTransB! : addon.sgemm)(view(a), view(b), bias ? view(bias) : null, view(out), size(aBatch) * M, K, N);
  else if (smallBatch) addon.sgemmBatched(view(a), view(b), view(out), size(aBatch), M, K, N);
  else {
    const [va, vb, vo] = [view(a), view(b), view(out)];
    const one = transB ? addon.sgemmTransB! : addon.sgemm;
    for (let i = 0; i < size(aBatch); i++) {
      one(va.subarray(i * M * K, (i + 1) * M * K), vb.subarray(i * K * N, (i + 1) * K * N), null, vo.subarray(i * M * N, (i + 1) * M * N), M, K, N);
    }
  }
  return out;
}

let installed: string | undefined;
let transposedB = false;

/**
 * Routes the wasm backend's plain matmuls to the native addon when it loads. Returns a name for
 * reports ("AVX2") or undefined when tfjs's own kernels stay in use.
 */
export function installNativeMatMul(backend: string): string | undefined {
  if (installed || backend !== 'wasm') return installed;
  const addon = loadAddon();
  if (!addon) return undefined;
  const originals = ['_FusedMatMul', 'BatchMatMul'].map((name) => tf.getKernel(name, 'wasm'));
  if (originals.some((k) => !k)) return undefined;
  for (const original of originals as tf.KernelConfig[]) {
    const { kernelName } = original;
    tf.unregisterKernel(kernelName, 'wasm');
    // The original kernel's setup already ran when the backend initialised, so it can still be called.
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: (args) => nativeMatMul(addon, args as unknown as KernelArgs) ?? original.kernelFunc(args),
    });
  }
  installed = 'AVX2';
  transposedB = !!addon.sgemmTransB;
  return installed;
}

/**
 * Whether `a · bᵀ` with one right-hand matrix runs as fast as `a · b` on this thread (the native
 * kernel). Elsewhere tfjs-wasm's transposed products are 10–30× slower, so callers keep a
 * transposed copy of the weight instead.
 */
export function fastTransposedMatMul(): boolean {
  return transposedB || tf.getBackend() !== 'wasm';
}

/** The matmul in use on this thread: "AVX2" (native) or "tfjs". */
export function matmulName(): string {
  return installed ?? 'tfjs';
}
