/**
 * The GPU through WebGPU: Dawn for Node (npm `webgpu`) reaches Metal on macOS, Direct3D 12 on
 * Windows and Vulkan on Linux, and tfjs-backend-webgpu runs TensorFlow.js on it.
 *
 * This module finds the adapter, says what it is (vendor, architecture, whether it is a software
 * rasteriser such as SwiftShader or llvmpipe) and registers the `webgpu` backend on exactly that
 * adapter. Order matters: tfjs-backend-webgpu reads `navigator.gpu` and the WebGPU globals when it
 * is imported, so Dawn is set up first and the backend imported after.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { badModel, PatchbenchError } from './errors.ts';
import type { TensorEntry } from './safetensors.ts';

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  /** Dawn's driver description, e.g. "SwiftShader driver 5.0.0" */
  description: string;
  /** a CPU implementation of the API (or the adapter WebGPU calls a fallback one) */
  software: boolean;
  /** bytes: the largest buffer, and the largest a shader may bind; every tensor is one buffer */
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/** Renderers that run on the CPU; Dawn marks most as fallback adapters, but not every driver does. */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|basic render driver|\bwarp\b/i;

export function describeAdapter(adapter: Pick<GPUAdapter, 'info' | 'limits'>): AdapterDescription {
  const { vendor, architecture, description, device } = adapter.info;
  const fallback = (adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return {
    vendor,
    architecture,
    description: description || device,
    software: fallback || SOFTWARE.test(`${vendor} ${architecture} ${description} ${device}`),
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
  };
}

/** "nvidia ampere", "google swiftshader, software" */
export function adapterName(a: AdapterDescription): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || a.description || 'unknown adapter';
  return a.software ? `${name}, software` : name;
}

/** "webgpu (nvidia ampere)": what `info`, the status bar and every result show. */
export function adapterLabel(a: AdapterDescription): string {
  return `webgpu (${adapterName(a)})`;
}

/** Where WebGPU could not be used, why, in one sentence a user can act on. */
const NO_ADAPTER: Record<string, string> = {
  linux: 'no WebGPU adapter found (Linux needs libvulkan1 and the GPU vendor\'s Vulkan driver, e.g. mesa-vulkan-drivers or NVIDIA\'s)',
  darwin: 'no WebGPU adapter found (Metal is unavailable on this Mac)',
  win32: 'no WebGPU adapter found (Direct3D 12 is unavailable; update the graphics driver)',
};

/**
 * On Linux, why Vulkan cannot work here, if that is plain without asking Dawn: Dawn prints
 * warnings on stderr when the loader or every driver is missing, which every command would show.
 */
function linuxVulkanProblem(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    process.dlopen({ exports: {} }, 'libvulkan.so.1');
  } catch (e) {
    // Found, it loads and then fails as a Node addon; missing, dlopen's own message says so.
    if (/cannot open shared object/.test((e as Error).message)) return 'libvulkan.so.1 is not installed (Debian/Ubuntu: apt install libvulkan1, plus the GPU vendor\'s Vulkan driver)';
  }
  const env = process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES;
  if (env) return undefined;
  const home = process.env.HOME;
  const dataDirs = (process.env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':');
  const dirs = ['/etc/vulkan/icd.d', ...dataDirs.map((d) => join(d, 'vulkan/icd.d')), ...(home ? [join(home, '.local/share/vulkan/icd.d')] : [])];
  const hasDriver = dirs.some((d) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.json')));
  return hasDriver ? undefined : `no Vulkan driver is installed (no driver file in ${dirs.join(', ')}; install the GPU vendor's Vulkan driver, e.g. mesa-vulkan-drivers)`;
}

let adapter: { gpu: GPUAdapter; description: AdapterDescription } | undefined;
let registered = false;

/**
 * Finds the adapter and registers tfjs's `webgpu` backend on it. Returns undefined when it is
 * ready, else the reason it cannot be used. A software adapter is used only if `allowSoftware`.
 */
export async function registerWebGpu(allowSoftware: boolean): Promise<string | undefined> {
  if (!adapter) {
    const vulkan = linuxVulkanProblem();
    if (vulkan) return vulkan;
    let dawn: typeof import('webgpu');
    try {
      dawn = await import('webgpu');
    } catch (e) {
      return `Dawn (npm "webgpu") does not load on ${process.platform}-${process.arch}: ${(e as Error).message.split('\n')[0]}`;
    }
    Object.assign(globalThis, dawn.globals);
    const gpu = dawn.create([]);
    const found = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
    if (!found) return NO_ADAPTER[process.platform] ?? 'no WebGPU adapter found';
    adapter = { gpu: found, description: describeAdapter(found) };
    // Node ≥ 21 has a navigator without `gpu`; Node 20 has none.
    const g = globalThis as { navigator?: object };
    if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
    else g.navigator = { gpu };
  }
  if (adapter.description.software && !allowSoftware) {
    return `the only WebGPU adapter is a software one (${adapter.description.description}); PATCHBENCH_BACKEND=webgpu uses it anyway`;
  }
  if (!registered) {
    const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
    // The package registers a factory of its own that requests an adapter again; use the one found here.
    if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
    const a = adapter.gpu;
    tf.registerBackend('webgpu', async () => {
      const limit = (name: keyof GPUSupportedLimits) => a.limits[name] as number;
      const device = await a.requestDevice({
        requiredLimits: {
          maxBufferSize: limit('maxBufferSize'),
          maxStorageBufferBindingSize: limit('maxStorageBufferBindingSize'),
          maxComputeWorkgroupStorageSize: limit('maxComputeWorkgroupStorageSize'),
          maxComputeWorkgroupsPerDimension: limit('maxComputeWorkgroupsPerDimension'),
          maxComputeWorkgroupSizeX: limit('maxComputeWorkgroupSizeX'),
          maxComputeInvocationsPerWorkgroup: limit('maxComputeInvocationsPerWorkgroup'),
        },
      });
      return new WebGPUBackend(device, a.info);
    });
    registered = true;
  }
  return undefined;
}

/** The adapter in use, once the webgpu backend has been set up. */
export function webgpuAdapter(): AdapterDescription | undefined {
  return adapter?.description;
}

const GiB = 2 ** 30;
const size = (bytes: number) => (bytes >= GiB ? `${(bytes / GiB).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`);

/**
 * Refuses, before any weight is read, a checkpoint with a tensor larger than one GPU buffer may
 * be: every weight becomes one float32 buffer, bound whole by the kernels that read it.
 */
export function checkFitsAdapter(a: AdapterDescription, tensors: Iterable<Pick<TensorEntry, 'name' | 'shape'>>, where: string): void {
  const limit = Math.min(a.maxBufferSize, a.maxStorageBufferBindingSize);
  const which = a.maxBufferSize < a.maxStorageBufferBindingSize ? 'maxBufferSize' : 'maxStorageBufferBindingSize';
  let largest: { name: string; shape: number[]; bytes: number } | undefined;
  for (const t of tensors) {
    const bytes = 4 * t.shape.reduce((p, d) => p * d, 1);
    if (!largest || bytes > largest.bytes) largest = { name: t.name, shape: t.shape, bytes };
  }
  if (largest && largest.bytes > limit) {
    throw badModel(
      `${where}: tensor "${largest.name}" [${largest.shape.join(', ')}] is ${size(largest.bytes)} in float32, more than the ` +
        `${size(limit)} this WebGPU adapter (${adapterName(a)}) allows in one buffer (${which}); ` +
        `run it on another backend (PATCHBENCH_BACKEND=wasm or node)`,
    );
  }
}

/** The webgpu backend's buffer pool, from tfjs-backend-webgpu 4.22's BufferManager. */
interface BufferPool {
  freeBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  numBytesAllocated: number;
}

/**
 * Gives back to the GPU the buffers tfjs keeps for reuse. tfjs pools every freed buffer by size
 * and never returns one, so a job's intermediates would stay on the GPU after it ends; the pool's
 * keys are kept (tfjs stops accounting for releases when it has none).
 */
export function releasePooledBuffers(): void {
  if (tf.getBackend() !== 'webgpu') return;
  const pool = (tf.backend() as unknown as { bufferManager?: BufferPool }).bufferManager;
  if (!pool?.freeBuffers) return;
  for (const list of pool.freeBuffers.values()) {
    for (const b of list) {
      pool.numBytesAllocated -= b.size;
      b.destroy();
    }
    pool.numFreeBuffers -= list.length;
    list.length = 0;
  }
}

/**
 * Runs `f` and fails, naming `what`, if the GPU ran out of memory or rejected a buffer meanwhile.
 * WebGPU reports both asynchronously, through error scopes, not as exceptions.
 */
export async function checkGpuErrors<T>(what: string, f: () => Promise<T>): Promise<T> {
  const device = (tf.backend() as unknown as { device?: GPUDevice }).device;
  if (tf.getBackend() !== 'webgpu' || !device) return f();
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let outcome: { value: T } | { error: unknown };
  try {
    outcome = { value: await f() };
  } catch (error) {
    outcome = { error };
  }
  const invalid = await device.popErrorScope();
  const oom = await device.popErrorScope();
  // A GPU error explains whatever went wrong in JavaScript after it.
  if (oom) throw badModel(`${what}: the GPU is out of memory (${oom.message}); run it on another backend (PATCHBENCH_BACKEND=wasm or node)`);
  if (invalid) throw new PatchbenchError('internal', `${what}: the GPU rejected it (${invalid.message})`);
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}
