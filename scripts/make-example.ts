/**
 * `npm run make:example`: writes resources/examples/ioi-demo.patchbench, the example project that
 * ships with the app: 16 IOI pairs from the task library (seed 0, one token length, as the app's
 * generator picks them) on the bundled demo model, every
 * component kind (neurons too while they stay few), attribution and activation patching side by
 * side, with verification of the top 5, and a circuit (EAP-IG, 5 steps, top 50 edges, with the
 * faithfulness curve). The model is referenced relative to the example
 * (`../models/demo`), so it opens from any install location.
 *
 *   npm run make:example [-- --model DIR] [--pairs FILE.jsonl] [--out FILE.patchbench]
 *
 * --model/--pairs/--out try the same recipe on another model (e.g. test/fixtures/gpt2-tiny-random
 * with its expected/ioi.pairs.jsonl); the bundled example itself is only written from the bundled model.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bundledModelDir } from '../main/engine/discovery.ts';
import { PatchbenchError } from '../main/engine/errors.ts';
import { HookedModel } from '../main/engine/model.ts';
import { defaultThreads, PartPool } from '../main/engine/parallel/pool.ts';
import { KINDS, type Kind } from '../main/engine/patching/components.ts';
import { runPatching, type PatchRequest } from '../main/engine/patching/index.ts';
import { parsePairsJsonl, tokenizePairs } from '../main/engine/patching/pairs.ts';
import { checkModel, describeModel, loadProject, projectFromResult, resourcesDir, saveProject, settingsFromRequest } from '../main/engine/project/index.ts';
import { generatePairs } from '../main/engine/tasks/index.ts';
import { runCircuit } from '../main/engine/circuits/index.ts';
import { circuitFromResult } from '../main/engine/project/circuit.ts';

/** Neurons are included while exhaustive activation patching of them stays this small. */
const MAX_NEURONS = 8192;

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { model: { type: 'string' }, pairs: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const defaultOut = join(resourcesDir(), 'examples', 'ioi-demo.patchbench');
  const out = resolve(v.out ?? defaultOut);
  const modelDir = resolve(v.model ?? bundledModelDir());
  if (!existsSync(join(modelDir, 'model.safetensors'))) {
    throw new Error(`${modelDir}: no model.safetensors (the demo model is made by \`npm run train:demo\`); try the recipe on another model with --model DIR --out FILE`);
  }
  if (out === defaultOut && modelDir !== resolve(bundledModelDir())) {
    throw new Error(`the bundled example must use the bundled model (${bundledModelDir()}); pass --out to write elsewhere`);
  }
  const model = await HookedModel.load(modelDir);
  const pairs = v.pairs ? parsePairsJsonl(readFileSync(v.pairs, 'utf8'), v.pairs).pairs : generatePairs('ioi', { n: 16, seed: 0, tokenizer: model.tokenizer });
  const neurons = model.config.nLayers * model.config.dMlp;
  const kinds: Kind[] = KINDS.filter((k) => k !== 'neuron' || neurons <= MAX_NEURONS);
  if (!kinds.includes('neuron')) process.stderr.write(`leaving out neuron: ${neurons} neurons is more than ${MAX_NEURONS}\n`);
  const req: PatchRequest = { direction: 'denoising', metric: 'logit-diff', kinds, method: 'both', verifyTop: 5 };
  const tokens = tokenizePairs(model, pairs, true);
  const threads = model.info.paramCount >= 20e6 ? defaultThreads() : 1;
  const pool = threads > 1 ? await PartPool.start(model, threads) : undefined;
  process.stderr.write(`patching ${pairs.length} pairs, ${kinds.length} kinds on ${model.info.name} (${model.info.backend}, ${threads} thread${threads > 1 ? 's' : ''})…\n`);
  const result = await runPatching(model, tokens, req, { runner: pool?.runner }).finally(() => pool?.dispose());
  const circuit = await runCircuit(model, tokens, { direction: 'denoising', metric: 'logit-diff', method: 'eap-ig', steps: 5, extraction: 'top-n', n: 50, curve: true });
  model.dispose();
  const project = projectFromResult(result, { pairs, settings: settingsFromRequest(req, true), model: await describeModel(modelDir), view: {} });
  project.circuit = circuitFromResult(circuit);
  mkdirSync(dirname(out), { recursive: true });
  saveProject(out, project);
  const back = loadProject(out);
  const check = await checkModel(back);
  if (check.status !== 'ok') throw new Error(`${out}: written, but ${check.message}`);
  process.stderr.write(`wrote ${out}: ${pairs.length} pairs, ${kinds.join(', ')}; clean ${result.metric.clean.toFixed(3)}, corrupted ${result.metric.corrupted.toFixed(3)} in ${result.seconds.toFixed(1)} s\n`);
  for (const k of result.kinds) if (k.summary) process.stderr.write(`  ${k.kind.padEnd(13)} pearson ${k.summary.pearson?.toFixed(3)}\n`);
  const own = circuit.faithfulness.find((p) => p.ranking === 'eap_ig' && p.n === 50);
  process.stderr.write(`  circuit: ${circuit.circuit.reduce((a, b) => a + b, 0)} of ${circuit.graph.src.length} edges, faithfulness ${own?.faithfulness.toFixed(3)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`make:example: ${e instanceof PatchbenchError || e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
