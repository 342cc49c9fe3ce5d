/**
 * Backend selection with tfjs-node, tfjs-node-gpu and the GPU adapter faked absent and present:
 * the order (node-gpu → hardware webgpu → node → wasm), a software adapter never chosen on its own,
 * and PATCHBENCH_BACKEND's errors. A fake tfjs-node registers a `tensorflow` backend as the real
 * one does when it is loaded; a fake adapter registers `webgpu`. Both compute on tfjs's CPU kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { selectBackend, type BackendProbes } from '../../main/engine/backend.ts';
import { PatchbenchError } from '../../main/engine/errors.ts';

type Gpu = 'none' | 'software' | 'hardware';

function register(name: string) {
  if (!tf.findBackendFactory(name)) tf.registerBackend(name, () => new MathBackendCPU());
}

/** Probes for a machine with these packages installed and this kind of adapter; records what was asked. */
function machine(installed: string[], gpu: Gpu, broken: string[] = []) {
  const asked: string[] = [];
  const probes: BackendProbes = {
    require(pkg) {
      asked.push(pkg);
      if (broken.includes(pkg)) throw new Error('libtensorflow.so.2: cannot open shared object file');
      if (!installed.includes(pkg)) throw Object.assign(new Error(`Cannot find module '${pkg}'`), { code: 'MODULE_NOT_FOUND' });
      register('tensorflow'); // tfjs-node-gpu registers under the same name
    },
    async webgpu(allowSoftware) {
      asked.push(`webgpu(${allowSoftware ? 'software allowed' : 'hardware only'})`);
      if (gpu === 'none') return 'no WebGPU adapter found';
      if (gpu === 'software' && !allowSoftware) return 'the only WebGPU adapter is a software one';
      register('webgpu');
      return undefined;
    },
  };
  return { probes, asked };
}

const NODE = '@tensorflow/tfjs-node';
const NODE_GPU = '@tensorflow/tfjs-node-gpu';

test('with neither tfjs-node package nor a GPU: wasm', async () => {
  const m = machine([], 'none');
  assert.equal(await selectBackend(undefined, m.probes), 'wasm');
  assert.deepEqual(m.asked, [NODE_GPU, 'webgpu(hardware only)', NODE]);
  assert.equal(tf.getBackend(), 'wasm');
});

test('a software adapter alone is never chosen automatically', async () => {
  const m = machine([], 'software');
  assert.equal(await selectBackend(undefined, m.probes), 'wasm');
});

test('tfjs-node present and no GPU: tensorflow', async () => {
  assert.equal(await selectBackend(undefined, machine([NODE], 'none').probes), 'tensorflow');
  assert.equal(tf.getBackend(), 'tensorflow');
});

test('a hardware adapter comes before tfjs-node, and tfjs-node-gpu before both', async () => {
  assert.equal(await selectBackend(undefined, machine([NODE], 'hardware').probes), 'webgpu');
  assert.equal(await selectBackend(undefined, machine([NODE_GPU, NODE], 'hardware').probes), 'tensorflow-gpu');
});

test('a package that is installed but does not load is passed over', async () => {
  assert.equal(await selectBackend(undefined, machine([NODE_GPU, NODE], 'none', [NODE_GPU]).probes), 'tensorflow');
});

test('PATCHBENCH_BACKEND forces a backend, and says why it cannot', async () => {
  assert.equal(await selectBackend('node', machine([NODE], 'none').probes), 'tensorflow');
  const software = machine([], 'software');
  assert.equal(await selectBackend('webgpu', software.probes), 'webgpu');
  assert.deepEqual(software.asked, ['webgpu(software allowed)']);
  const fails = async (forced: string, m: ReturnType<typeof machine>, ...fragments: string[]) =>
    assert.rejects(selectBackend(forced, m.probes), (e: unknown) => {
      assert.ok(e instanceof PatchbenchError && e.code === 'bad-input', String(e));
      for (const f of fragments) assert.ok(e.message.includes(f), `${e.message} lacks ${f}`);
      return true;
    });
  await fails('node', machine([], 'hardware'), 'PATCHBENCH_BACKEND=node', '@tensorflow/tfjs-node is not installed');
  await fails('node-gpu', machine([NODE], 'none', [NODE_GPU]), 'PATCHBENCH_BACKEND=node-gpu', 'libtensorflow.so.2');
  await fails('webgpu', machine([], 'none'), 'PATCHBENCH_BACKEND=webgpu', 'no WebGPU adapter found');
  await fails('metal', machine([], 'none'), 'unknown backend', 'webgpu');
});
