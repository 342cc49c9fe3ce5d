/**
 * `npm run bench:faithfulness-batches -- [--model DIR] [--pairs 64] [--circuits 16] [--batches 16,4,2] [--rounds 2]`
 *
 * Faithfulness of random circuits evaluated in batches of different sizes: the total time, and the
 * longest batch (how long a circuit job goes without a progress report or a look at Cancel). The
 * circuits' values are the same whatever the batch; the last stdout line is one JSON object.
 */
import { parseArgs } from 'node:util';
import { bundledModelDir } from '../engine/discovery.ts';
import { randomCircuit } from '../engine/circuits/extract.ts';
import { circuitsPerBatch, faithfulness, prepareFaithfulness } from '../engine/circuits/faithfulness.ts';
import { buildGraph, graphShape } from '../engine/circuits/graph.ts';
import { HookedModel } from '../engine/model.ts';
import { tokenizePairs } from '../engine/patching/pairs.ts';
import { generatePairSet } from '../engine/tasks/index.ts';
import { mulberry32 } from '../engine/tasks/random.ts';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    pairs: { type: 'string', default: '64' },
    circuits: { type: 'string', default: '16' },
    batches: { type: 'string', default: '16,4,2' },
    rounds: { type: 'string', default: '2' },
  },
});
const model = await HookedModel.load(a.model ?? bundledModelDir());
const pairs = tokenizePairs(model, generatePairSet('ioi', { n: Number(a.pairs), seed: 0, tokenizer: model.tokenizer }).pairs);
const graph = buildGraph(graphShape(model.config));
const ctx = await prepareFaithfulness(model, graph, pairs, 'logit-diff');
const rng = mulberry32(0);
const circuits = Array.from({ length: Number(a.circuits) }, (_, i) => randomCircuit(graph, Math.min(graph.src.length, 20 * (i + 1)), rng));
const runs: { batch: number; seconds: number; longest_batch_s: number }[] = [];
for (let round = 0; round < Number(a.rounds); round++) {
  for (const batch of a.batches!.split(',').map(Number)) {
    const t0 = performance.now();
    let last = t0;
    let longest = 0;
    await faithfulness(ctx, circuits, {
      batch,
      onBatch: () => {
        const t = performance.now();
        longest = Math.max(longest, t - last);
        last = t;
      },
    });
    runs.push({ batch, seconds: (performance.now() - t0) / 1000, longest_batch_s: longest / 1000 });
    process.stderr.write(`batch ${batch}: ${runs.at(-1)!.seconds.toFixed(2)} s, longest batch ${runs.at(-1)!.longest_batch_s.toFixed(2)} s\n`);
  }
}
const summary = { model: model.info.name, backend: model.info.backend, pairs: pairs.clean.length, tokens: pairs.clean[0].length, circuits: circuits.length, default_batch: circuitsPerBatch(ctx), runs };
ctx.dispose();
model.dispose();
console.log(JSON.stringify(summary));
