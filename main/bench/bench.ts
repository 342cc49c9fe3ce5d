/**
 * `npm run bench -- [--model DIR | --arch gpt2-small|pythia-410m|qwen2.5-0.5b|llama-3.2-1b] [--backend NAME] [--pairs 8] [--pos 16] [--repeats 3] [--only KEY,…]`
 *
 * Times the engine's core work on the backend in use (`--backend` forces one, as PATCHBENCH_BACKEND
 * does: webgpu, wasm, cpu, node, node-gpu). Without --model it makes (once, cached in .cache/) a
 * random-weight checkpoint of the --arch shape (default GPT-2 small); a shape that does not fit the
 * backend is refused before its weights are made. The last line on stdout is one JSON
 * object (seconds, median of repeats) whose keys match the PyTorch peer torch_bench.py (in the team folder), the
 * PyTorch peer, so both can be run on the same machine and compared. `--only` measures just the
 * keys named (`forward_s` is always measured: the ratios are in forward passes), for the big shapes
 * where the whole list takes long.
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../engine/backend.ts';
import { HookedModel } from '../engine/model.ts';
import { defaultThreads, PartPool } from '../engine/parallel/pool.ts';
import type { Kind } from '../engine/patching/components.ts';
import { runPatching, type PatchRequest } from '../engine/patching/index.ts';
import { meanMetric } from '../engine/patching/runs.ts';
import { parseConfig } from '../engine/config.ts';
import { PatchbenchError } from '../engine/errors.ts';
import { checkFitsBackend, memoryNeed } from '../engine/memory.ts';
import { ARCH_NAMES, archConfig, randomArch, randomPairs } from './checkpoints.ts';
import { runCircuit } from '../engine/circuits/index.ts';
import { edgeScores } from '../engine/circuits/scores.ts';

async function median(repeats: number, f: () => Promise<unknown>): Promise<number> {
  await f(); // warm-up: kernels, packed weights, caches
  const ts: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await f();
    ts.push((performance.now() - t) / 1000);
  }
  return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)];
}

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    arch: { type: 'string', default: 'gpt2-small' },
    backend: { type: 'string' },
    pairs: { type: 'string', default: '8' },
    pos: { type: 'string', default: '16' },
    repeats: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(defaultThreads()) },
    only: { type: 'string' },
  },
});
await initBackend(a.backend ?? process.env.PATCHBENCH_BACKEND).catch((e: Error) => {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(1);
});
if (!a.model && !ARCH_NAMES.includes(a.arch!)) throw new Error(`--arch ${a.arch}: use one of ${ARCH_NAMES.join(', ')}`);
if (!a.model && a.arch !== 'gpt2-small') {
  const cfg = parseConfig(archConfig(a.arch!), `${a.arch} config.json`);
  const need = memoryNeed(cfg);
  process.stderr.write(`${a.arch}: ${(need.parameters / 1e6).toFixed(0)}M parameters, ${(need.weightBytes / 2 ** 30).toFixed(2)} GiB float32 weights, ${(need.copyBytes / 2 ** 30).toFixed(2)} GiB transposed copies\n`);
  try {
    checkFitsBackend(cfg, a.arch!);
  } catch (e) {
    if (!(e instanceof PatchbenchError)) throw e;
    process.stderr.write(`${e.message}\n`);
    console.log(JSON.stringify({ arch: a.arch, refused: e.message, parameters: need.parameters, weight_bytes: need.weightBytes }));
    process.exit(1);
  }
}
const model = await HookedModel.load(a.model ?? randomArch(a.arch!));
const B = Number(a.pairs);
const P = Number(a.pos);
const repeats = Number(a.repeats);
const pairs = randomPairs(model.config.dVocab, B, P);
const log = (s: string) => process.stderr.write(s + '\n');
const pool = await PartPool.start(model, Number(a.threads));
log(`model ${model.info.name}: ${model.info.nLayers} layers, d_model ${model.info.dModel}; ${B} pairs × ${P} tokens; backend ${model.info.backend}; ${pool.threads} threads`);

const patch = (kinds: Kind[], method: PatchRequest['method'], atpStar: Pick<PatchRequest, 'qkFix' | 'gradDrop'> = {}) => () =>
  runPatching(model, pairs, { direction: 'denoising', metric: 'logit-diff', kinds, method, ...atpStar }, { runner: pool.runner, threads: pool.threads });
const noNeurons = model.info.kinds.filter((k) => k !== 'neuron');
// Exactly the keys the patching, AtP* and circuits issues name (the thread count is on stderr above).
// Activation patching and the faithfulness curve run once after the warm-up: they are long.
const measurements: [key: string, repeats: number, run: () => Promise<unknown>][] = [
  ['attribution_s', repeats, patch(noNeurons, 'attribution')],
  ['attribution_with_neurons_s', repeats, patch([...model.info.kinds], 'attribution')],
  // AtP* (issue 12): the QK fix adds no pass; GradDrop adds L partial backward passes.
  ['attribution_qk_s', repeats, patch(noNeurons, 'attribution', { qkFix: true })],
  ['attribution_atp_star_s', repeats, patch(noNeurons, 'attribution', { qkFix: true, gradDrop: true })],
  ['activation_head_z_s', 1, patch(['head_z'], 'activation')],
  ['activation_resid_pre_s', 1, patch(['resid_pre'], 'activation')],
  // Circuits run on this thread: EAP's scores alone (2 forward + 1 backward), then the whole EAP job
  // with the faithfulness curve (9 sizes × the EAP ranking and 5 random circuits, batched).
  ['eap_s', repeats, () => edgeScores(model, pairs, { direction: 'denoising', metric: 'logit-diff', steps: 1 })],
  [
    'faithfulness_curve_s',
    1,
    () => runCircuit(model, pairs, { direction: 'denoising', metric: 'logit-diff', method: 'eap', steps: 1, extraction: 'top-n', n: 200, curve: true }),
  ],
];
const only = a.only?.split(',').map((k) => k.trim()).filter((k) => k && k !== 'forward_s');
const unknown = only?.filter((k) => !measurements.some(([key]) => key === k));
if (unknown?.length) {
  process.stderr.write(`bench: --only ${unknown.join(', ')}: not a measurement; use any of forward_s, ${measurements.map(([k]) => k).join(', ')}\n`);
  process.exit(2);
}
const result: Record<string, number | string> = { backend: model.info.backend };
result.forward_s = await median(repeats, async () => {
  const t = model.tokensTensor(pairs.corrupted);
  const { final } = model.run(t, { lastOnlyFinal: true });
  await meanMetric(model, 'logit-diff', final, { answer: pairs.answer, wrong: pairs.wrong });
  t.dispose();
  final.dispose();
});
log(`forward_s ${result.forward_s}`);
for (const [key, times, run] of measurements) {
  if (only && !only.includes(key)) continue;
  result[key] = await median(times, run);
  log(`${key} ${result[key]}`);
}
// maxRSS covers the whole process, worker threads included.
result.peak_rss_bytes = process.resourceUsage().maxRSS * 1024;
const f = result.forward_s as number;
const ratio = (key: string, per: number, what: string) =>
  typeof result[key] === 'number' ? [`${what} ${((result[key] as number) / (f * per)).toFixed(3)}`] : [];
const L = model.config.nLayers;
log(
  'in forward passes: ' +
    [
      ...ratio('attribution_s', 1, 'attribution'),
      ...(typeof result.attribution_qk_s === 'number' && typeof result.attribution_s === 'number'
        ? [`QK fix ${((result.attribution_qk_s as number) / (result.attribution_s as number)).toFixed(2)}× attribution (target ≤ 1.2)`]
        : []),
      ...ratio('attribution_atp_star_s', 1, `AtP* (target ≤ 2 + L = ${2 + L})`),
      ...ratio('activation_head_z_s', L * model.config.nHeads, 'head_z per component'),
      ...ratio('activation_resid_pre_s', L * P, 'resid_pre per component'),
      ...ratio('eap_s', 1, 'eap'),
      ...ratio('faithfulness_curve_s', 1, 'faithfulness curve'),
    ].join('; '),
);
console.log(JSON.stringify(result));
await pool.dispose();
model.dispose();
