/**
 * Compute backend selection. The engine is backend-agnostic; this module picks the fastest backend
 * that actually loads on this machine: node-gpu → node → wasm → cpu. `PATCHBENCH_BACKEND` forces one.
 * tfjs-node(-gpu) are optional dependencies: where libtensorflow could not be downloaded at install
 * time npm drops them, and we fall through to wasm.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { PatchbenchError } from './errors.ts';
import { installNativeMatMul, matmulName } from './native-matmul.ts';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
const ORDER: { name: BackendName; pkg?: string }[] = [
  { name: 'tensorflow-gpu', pkg: '@tensorflow/tfjs-node-gpu' },
  { name: 'tensorflow', pkg: '@tensorflow/tfjs-node' },
  { name: 'wasm' },
  { name: 'cpu' },
];
/** Names a user may give in PATCHBENCH_BACKEND, mapped to tfjs backend names. */
const ALIASES: Record<string, BackendName> = {
  'node-gpu': 'tensorflow-gpu',
  'tensorflow-gpu': 'tensorflow-gpu',
  node: 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

let selected: Promise<BackendName> | undefined;

async function tryBackend(name: BackendName, pkg?: string): Promise<boolean> {
  try {
    if (pkg) {
      // tfjs-node registers its backend on require; a missing native binding throws here.
      createRequire(import.meta.url)(pkg);
    }
    // tfjs-node-gpu registers as 'tensorflow' too; distinguish by package.
    const tfName = name === 'tensorflow-gpu' ? 'tensorflow' : name;
    if (!tf.findBackendFactory(tfName)) return false;
    return await tf.setBackend(tfName);
  } catch {
    return false;
  }
}

/** The first backend that loads: `preferred` if given (failing clearly if it cannot), else by ORDER. */
async function selectBackend(preferred: string | undefined): Promise<BackendName> {
  if (preferred) {
    const name = ALIASES[preferred.toLowerCase()];
    if (!name) {
      throw new PatchbenchError(
        'bad-input',
        `PATCHBENCH_BACKEND=${preferred}: unknown backend (use one of ${Object.keys(ALIASES).join(', ')})`,
      );
    }
    const entry = ORDER.find((o) => o.name === name)!;
    if (!(await tryBackend(entry.name, entry.pkg))) {
      throw new PatchbenchError('bad-input', `PATCHBENCH_BACKEND=${preferred}: the ${name} backend does not load on this machine`);
    }
    return name;
  }
  for (const o of ORDER) {
    if (await tryBackend(o.name, o.pkg)) return o.name;
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
 * ("wasm + native AVX2 matmul"), since that changes speed several-fold.
 */
export function backendLabel(): string {
  const name = tf.getBackend();
  return name === 'wasm' && matmulName() !== 'tfjs' ? `wasm + native ${matmulName()} matmul` : name;
}
