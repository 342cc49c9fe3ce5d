/**
 * Compute backend selection. The engine is backend-agnostic; this module picks the fastest backend
 * that actually loads on this machine: node-gpu → webgpu (a hardware adapter only) → node → wasm →
 * cpu. `PATCHBENCH_BACKEND` forces one (webgpu then takes a software adapter too).
 *
 * tfjs-node(-gpu) are optional dependencies: where libtensorflow could not be downloaded at install
 * time npm drops them, and we fall through. A hardware GPU comes before tfjs-node, which runs on
 * the CPU; CUDA TensorFlow comes before WebGPU, whose kernels are generic. A software WebGPU
 * adapter (SwiftShader, llvmpipe) is slower than wasm, so it is never chosen on its own.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { PatchbenchError } from './errors.ts';
import { installNativeMatMul, matmulName } from './native-matmul.ts';
import { installWasmSlice } from './wasm-slice.ts';
import { adapterLabel, registerWebGpu, releasePooledBuffers, webgpuAdapter } from './webgpu.ts';

export type BackendName = 'tensorflow-gpu' | 'webgpu' | 'tensorflow' | 'wasm' | 'cpu';
const ORDER: { name: BackendName; pkg?: string }[] = [
  { name: 'tensorflow-gpu', pkg: '@tensorflow/tfjs-node-gpu' },
  { name: 'webgpu' },
  { name: 'tensorflow', pkg: '@tensorflow/tfjs-node' },
  { name: 'wasm' },
  { name: 'cpu' },
];
/** Names a user may give in PATCHBENCH_BACKEND, mapped to tfjs backend names. */
const ALIASES: Record<string, BackendName> = {
  'node-gpu': 'tensorflow-gpu',
  'tensorflow-gpu': 'tensorflow-gpu',
  webgpu: 'webgpu',
  gpu: 'webgpu',
  node: 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

/** How the optional backends are looked for; tests replace them to fake a module absent or present. */
export interface BackendProbes {
  /** loads an npm package (tfjs-node registers its backend as it loads) */
  require(pkg: string): unknown;
  /** sets up WebGPU: undefined once it is ready, else why it cannot be used */
  webgpu(allowSoftware: boolean): Promise<string | undefined>;
}

const realProbes: BackendProbes = {
  require: (pkg) => createRequire(import.meta.url)(pkg),
  webgpu: registerWebGpu,
};

let selected: Promise<BackendName> | undefined;

/** Sets up `name`: undefined when it is in use, else why it is not. */
async function tryBackend(name: BackendName, pkg: string | undefined, forced: boolean, probes: BackendProbes): Promise<string | undefined> {
  try {
    if (pkg) {
      try {
        probes.require(pkg);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        return err.code === 'MODULE_NOT_FOUND' && err.message.includes(pkg) ? `${pkg} is not installed` : `${pkg} does not load: ${err.message.split('\n')[0]}`;
      }
    }
    if (name === 'webgpu') {
      const why = await probes.webgpu(forced);
      if (why) return why;
    }
    // tfjs-node-gpu registers as 'tensorflow' too; distinguish by package.
    const tfName = name === 'tensorflow-gpu' ? 'tensorflow' : name;
    if (!tf.findBackendFactory(tfName)) return `no ${tfName} backend is registered`;
    return (await tf.setBackend(tfName)) ? undefined : `the ${tfName} backend failed to initialise`;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The first backend that loads: `preferred` if given (failing clearly if it cannot), else by ORDER. */
export async function selectBackend(preferred: string | undefined, probes: BackendProbes = realProbes): Promise<BackendName> {
  if (preferred) {
    const name = ALIASES[preferred.toLowerCase()];
    if (!name) {
      throw new PatchbenchError(
        'bad-input',
        `PATCHBENCH_BACKEND=${preferred}: unknown backend (use one of ${Object.keys(ALIASES).join(', ')})`,
      );
    }
    const entry = ORDER.find((o) => o.name === name)!;
    const why = await tryBackend(entry.name, entry.pkg, true, probes);
    if (why) throw new PatchbenchError('bad-input', `PATCHBENCH_BACKEND=${preferred}: the ${name} backend does not load on this machine: ${why}`);
    return name;
  }
  for (const o of ORDER) {
    if (!(await tryBackend(o.name, o.pkg, false, probes))) return o.name;
  }
  throw new PatchbenchError('internal', 'no TensorFlow.js backend could be initialised');
}

/**
 * Initialises the best available backend once per process (or thread) and returns its name.
 * `preferred` (or PATCHBENCH_BACKEND) forces a backend and fails clearly if it cannot load.
 */
export function initBackend(preferred: string | undefined = process.env.PATCHBENCH_BACKEND): Promise<BackendName> {
  selected ??= (async () => {
    // Quiet tfjs's "hi there, use tfjs-node" advice and its kernel-registration warnings.
    tf.env().set('PROD', true);
    const name = await selectBackend(preferred);
    await tf.ready();
    installNativeMatMul(name);
    installWasmSlice(name);
    return name;
  })();
  return selected;
}

/** The backend in use, for display ("wasm", "cpu", …). Call after initBackend(). */
export function backendName(): string {
  return tf.getBackend();
}

/**
 * The backend as reported to users: its name, plus the native matmul where the wasm backend uses it
 * ("wasm + native AVX2 matmul"), since that changes speed several-fold, or the GPU adapter
 * ("webgpu (apple metal-3)", "webgpu (google swiftshader, software)").
 */
export function backendLabel(): string {
  const name = tf.getBackend();
  const gpu = webgpuAdapter();
  if (name === 'webgpu' && gpu) return adapterLabel(gpu);
  return name === 'wasm' && matmulName() !== 'tfjs' ? `wasm + native ${matmulName()} matmul` : name;
}

/**
 * Whether patching may split over worker threads, each with its own copy of the weights: not on
 * the GPU, where the copies would share one device (and its memory) and gain nothing.
 */
export function splitsOverThreads(): boolean {
  return tf.getBackend() !== 'webgpu';
}

/** Returns memory a finished job leaves cached by the backend (the GPU's buffer pool). */
export function releaseJobMemory(): void {
  releasePooledBuffers();
}
