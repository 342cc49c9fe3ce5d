/**
 * The engine on a WebGPU adapter against the float64 reference, and its GPU memory across jobs.
 * In CI the adapter is SwiftShader, a software Vulkan driver (.ci/run points Dawn at it), so every
 * kernel costs milliseconds: the checkpoint is tiny (d_model 24, a 257-token vocabulary). Without
 * any adapter the file is skipped and says why.
 */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { initBackend } from '../../main/engine/backend.ts';
import { HookedModel } from '../../main/engine/model.ts';
import { KINDS } from '../../main/engine/patching/components.ts';
import { runPatching, type PatchRequest } from '../../main/engine/patching/index.ts';
import { Checkpoint } from '../../main/engine/checkpoint.ts';
import { PatchbenchError } from '../../main/engine/errors.ts';
import { checkFitsAdapter, checkGpuErrors, describeAdapter, registerWebGpu, webgpuAdapter } from '../../main/engine/webgpu.ts';
import { rankEdges, topN } from '../../main/engine/circuits/extract.ts';
import { faithfulness, prepareFaithfulness } from '../../main/engine/circuits/faithfulness.ts';
import { edgeName } from '../../main/engine/circuits/graph.ts';
import { edgeScores } from '../../main/engine/circuits/scores.ts';
import { RefEdgeAttribution, refEdges, refFaithfulness } from '../reference/circuits.ts';
import { loadRefModel } from '../reference/model.ts';
import { FIXTURES, writeFixture } from '../fixtures/generate.ts';
import { assertClose, readJson, ROOT, TINY } from '../helpers.ts';

const NAME = 'sharded-lmhead-ninner';
const noAdapter = await registerWebGpu(true);
const tmp = mkdtempSync(join(tmpdir(), 'patchbench-webgpu-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const MiB = 2 ** 20;
const fakeAdapter = (info: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean }, maxBufferSize = 256 * MiB, maxStorageBufferBindingSize = 128 * MiB) =>
  describeAdapter({
    info: { vendor: '', architecture: '', device: '', description: '', ...info } as GPUAdapterInfo,
    limits: { maxBufferSize, maxStorageBufferBindingSize } as GPUSupportedLimits,
  });

test('adapters are told apart: software ones by the fallback flag or by name', () => {
  assert.equal(fakeAdapter({ vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true }).software, true);
  assert.equal(fakeAdapter({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }).software, true);
  assert.equal(fakeAdapter({ vendor: 'nvidia', architecture: 'ampere', description: 'NVIDIA GeForce RTX 3060' }).software, false);
});

test('a checkpoint with a tensor larger than one GPU buffer is refused before loading, naming the tensor and the limit', () => {
  const checkpoint = Checkpoint.open(TINY);
  const entries = checkpoint.entries();
  checkpoint.close();
  // The tiny model's largest tensor is the embedding, 50257 × 64 floats = 12.3 MiB.
  const small = fakeAdapter({ vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true }, 256 * MiB, 8 * MiB);
  assert.throws(
    () => checkFitsAdapter(small, entries, TINY),
    (e: unknown) =>
      e instanceof PatchbenchError &&
      e.code === 'bad-model' &&
      e.message.includes('tensor "transformer.wte.weight" [50257, 64] is 12 MiB in float32') &&
      e.message.includes('8 MiB this WebGPU adapter (google swiftshader, software) allows in one buffer (maxStorageBufferBindingSize)') &&
      e.message.includes('PATCHBENCH_BACKEND=wasm'),
  );
  assert.throws(() => checkFitsAdapter(fakeAdapter({ vendor: 'apple' }, 4 * MiB, 8 * MiB), entries, TINY), /\(maxBufferSize\)/);
  checkFitsAdapter(fakeAdapter({ vendor: 'apple' }, 16 * MiB, 16 * MiB), entries, TINY);
});

describe('the engine on WebGPU', { skip: noAdapter && `no WebGPU adapter: ${noAdapter}` }, () => {
  let model: HookedModel;
  const spec = readJson(join(ROOT, `test/fixtures/expected/${NAME}.spec.json`));
  const expected = readJson(join(ROOT, `test/fixtures/expected/${NAME}.expected.json`));
  const pairs = {
    clean: spec.pairs.map((p: any) => p.clean),
    corrupted: spec.pairs.map((p: any) => p.corrupted),
    answer: spec.pairs.map((p: any) => p.answer),
    wrong: spec.pairs.map((p: any) => p.wrong),
  };
  before(async () => {
    assert.equal(await initBackend('webgpu'), 'webgpu');
    model = await HookedModel.load(writeFixture(join(tmp, NAME), FIXTURES[NAME]));
  });
  after(() => model?.dispose());

  test('the backend label names the adapter, and "software" where it is one', () => {
    const a = webgpuAdapter()!;
    assert.match(model.info.backend, /^webgpu \(.+\)$/);
    assert.ok(model.info.backend.includes(a.vendor || a.description), model.info.backend);
    assert.equal(model.info.backend.includes('software'), a.software);
  });

  test('logits, attribution and activation patching of every kind match float64', async () => {
    const tokens = model.tokensTensor(pairs.clean);
    const { final } = model.run(tokens);
    const logits = model.logits(final);
    ((await logits.array()) as number[][]).forEach((row, b) => assertClose(row.slice(0, 16), expected.clean_last_logits_first16[b], 2e-3, `logits ${b}`));
    tf.dispose([tokens, final, logits]);
    const result = await runPatching(model, pairs, { direction: spec.direction, metric: 'logit-diff', kinds: [...KINDS], method: 'both' });
    assert.ok(result.backend.startsWith('webgpu ('), result.backend);
    for (const k of result.kinds) {
      const rows = expected.kinds[k.kind] as { attribution: number; activation: number }[];
      assertClose(k.attribution!, rows.map((r) => r.attribution), 1e-3, `${k.kind} attribution`);
      assertClose(k.activation!, rows.map((r) => r.activation), 1e-3, `${k.kind} activation`);
    }
  });

  test('an error the GPU reports asynchronously becomes an error in words', async () => {
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const tooLarge = () => device.createBuffer({ size: device.limits.maxBufferSize + 4, usage: GPUBufferUsage.STORAGE }).destroy();
    await assert.rejects(checkGpuErrors('a test buffer', async () => tooLarge()), (e: unknown) => e instanceof PatchbenchError && /^a test buffer: the GPU rejected it \(.+\)$/s.test(e.message));
    assert.equal(await checkGpuErrors('a test', async () => 42), 42);
  });

  test('EAP edge scores and the faithfulness of a circuit match float64', async () => {
    const ref = loadRefModel(model.info.dir);
    const s = await edgeScores(model, pairs, { direction: 'denoising', metric: 'logit-diff', steps: 1 });
    const r = new RefEdgeAttribution(ref, pairs, 'denoising', 'logit-diff');
    const index = new Map(Array.from(s.graph.src, (_, e) => [edgeName(s.graph, e), e]));
    const edges = refEdges(ref);
    assert.equal(index.size, edges.length, 'edge count');
    for (const e of edges) {
      const got = s.eap[index.get(`${e.src}->${e.dst}`)!];
      const want = r.score(e.src, e.dst);
      assert.ok(Math.abs(got - want) <= 2e-3, `${e.src}->${e.dst}: engine ${got}, reference ${want}`);
    }
    const circuit = topN(s.graph, rankEdges(s.eap), 10);
    const f = await prepareFaithfulness(model, s.graph, pairs, 'logit-diff');
    const [got] = await faithfulness(f, [circuit]).finally(() => f.dispose());
    const names = new Set(Array.from(circuit).flatMap((on, e) => (on ? [edgeName(s.graph, e)] : [])));
    const want = refFaithfulness(ref, pairs, 'logit-diff', names);
    assert.ok(Math.abs(got - want) <= 2e-3, `faithfulness of the top 10 edges: engine ${got}, reference ${want}`);
  });

  test('repeated jobs leave GPU memory where it was: no tensor kept, no buffer pooled', async () => {
    const jobs: PatchRequest[] = [
      { direction: 'noising', metric: 'prob-diff', kinds: ['head_z', 'resid_pre'], method: 'both' },
      { direction: 'denoising', metric: 'logprob', kinds: ['head_pattern'], method: 'attribution', verifyTop: 2 },
    ];
    const memory = () => tf.memory() as tf.MemoryInfo & { numBytesInGPU: number; numBytesAllocatedInGPU: number };
    for (const job of jobs) await runPatching(model, pairs, job); // per-model caches: masks, transposed weights
    const first = memory();
    for (let round = 0; round < 2; round++) {
      for (const job of jobs) await runPatching(model, pairs, job);
      const now = memory();
      assert.equal(now.numTensors, first.numTensors, `round ${round}: tensors`);
      assert.equal(now.numBytesInGPU, first.numBytesInGPU, `round ${round}: bytes in live GPU buffers`);
      // Everything allocated is in use: a job's intermediates went back to the GPU, not to tfjs's pool.
      assert.equal(now.numBytesAllocatedInGPU, now.numBytesInGPU, `round ${round}: bytes allocated`);
    }
  });

  test('AtP* (QK fix and GradDrop) of head_q, head_k and head_z matches the wasm backend to 2e-5 relative', async (t) => {
    // Four pairs: the spec's three and one more with a second corrupted token.
    const extra = { clean: spec.pairs[1].clean, corrupted: spec.pairs[1].corrupted.map((id: number, i: number) => (i === 4 ? 99 : id)), answer: spec.pairs[1].answer, wrong: spec.pairs[1].wrong };
    const four = [...spec.pairs, extra];
    const atp = { clean: four.map((p) => p.clean), corrupted: four.map((p) => p.corrupted), answer: four.map((p) => p.answer), wrong: four.map((p) => p.wrong) };
    const req: PatchRequest = { direction: 'denoising', metric: 'logit-diff', kinds: ['head_q', 'head_k', 'head_z'], method: 'attribution', qkFix: true, gradDrop: true };
    const gpu = await runPatching(model, atp, req);
    assert.ok(gpu.backend.startsWith('webgpu ('), gpu.backend);
    // The same job on wasm, whose AtP* atp-star.test.ts checks against the float64 reference.
    assert.ok(await tf.setBackend('wasm'));
    const onWasm = await HookedModel.load(model.info.dir);
    const cpu = await runPatching(onWasm, atp, req).finally(() => onWasm.dispose());
    assert.ok(await tf.setBackend('webgpu'));
    assert.match(cpu.backend, /^wasm/);
    let worst = 0;
    const close = (got: Float32Array | undefined, want: Float32Array | undefined, what: string) => {
      assert.ok(got && want && got.length === want.length, `${what}: both computed, of one length`);
      const scale = Math.max(...Array.from(want, Math.abs));
      assert.ok(scale > 0, `${what}: not all zero`);
      want.forEach((w, i) => {
        const rel = Math.abs(got[i] - w) / scale;
        worst = Math.max(worst, rel);
        assert.ok(rel <= 2e-5, `${what}[${i}]: webgpu ${got[i]}, wasm ${w} (${rel.toExponential(2)} of the largest |value|)`);
      });
    };
    for (const k of gpu.kinds) {
      const w = cpu.kinds.find((x) => x.kind === k.kind)!;
      close(k.attribution, w.attribution, `${k.kind} attribution`);
      if (k.kind !== 'head_z') close(k.attributionQk, w.attributionQk, `${k.kind} attribution_qk`);
      for (const score of ['atp', 'atp_qk', 'graddrop', 'atp_star'] as const) close(k.scores?.[score], w.scores?.[score], `${k.kind} score_${score}`);
    }
    t.diagnostic(`largest difference: ${worst.toExponential(2)} of a kind's largest |value|`);
  });
});
