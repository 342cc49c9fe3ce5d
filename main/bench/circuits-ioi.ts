/**
 * `npm run bench:circuits -- [--model DIR] [--n 32] [--seed 0] [--steps 5] [--threshold 0.8] [--top-heads 3]`
 *
 * The circuit figures BENCHMARKS.md reports, on the bundled demo model's IOI task: for EAP and
 * EAP-IG, the smallest top-n circuit (n edges before pruning) whose faithfulness reaches the
 * threshold, its size after pruning and its heads; and whether the heads that activation patching
 * (head_z, exhaustive) ranks top are among them. The last stdout line is one JSON object.
 */
import { parseArgs } from 'node:util';
import { bundledModelDir } from '../engine/discovery.ts';
import { circuitNodes, edgesIn, rankEdges, topN } from '../engine/circuits/extract.ts';
import { faithfulness, prepareFaithfulness } from '../engine/circuits/faithfulness.ts';
import { edgeScores } from '../engine/circuits/scores.ts';
import { HookedModel } from '../engine/model.ts';
import { runPatching } from '../engine/patching/index.ts';
import { tokenizePairs } from '../engine/patching/pairs.ts';
import { generatePairs } from '../engine/tasks/index.ts';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    n: { type: 'string', default: '32' },
    seed: { type: 'string', default: '0' },
    steps: { type: 'string', default: '5' },
    threshold: { type: 'string', default: '0.8' },
    'top-heads': { type: 'string', default: '3' },
  },
});
const log = (s: string) => process.stderr.write(s + '\n');
const model = await HookedModel.load(a.model ?? bundledModelDir());
const pairs = tokenizePairs(model, generatePairs('ioi', { n: Number(a.n), seed: Number(a.seed), tokenizer: model.tokenizer }));
const threshold = Number(a.threshold);
const t0 = performance.now();
const s = await edgeScores(model, pairs, { direction: 'denoising', metric: 'logit-diff', steps: Number(a.steps) });
const g = s.graph;
const E = g.src.length;
log(`${model.info.name}: ${E} edges, ${pairs.clean.length} IOI pairs (seed ${a.seed}) of ${pairs.clean[0].length} tokens; EAP-IG with ${a.steps} steps`);

const patching = await runPatching(model, pairs, { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'activation' });
const act = patching.kinds[0].activation!;
const H = model.config.nHeads;
const topHeads = Array.from(act, (v, i) => ({ head: `a${Math.floor(i / H)}.h${i % H}`, effect: v }))
  .sort((x, y) => Math.abs(y.effect) - Math.abs(x.effect))
  .slice(0, Number(a['top-heads']));
log(`activation patching ranks top: ${topHeads.map((h) => `${h.head} (${h.effect.toFixed(3)})`).join(', ')}`);

const f = await prepareFaithfulness(model, g, pairs, 'logit-diff');
const report: Record<string, unknown> = { model: model.info.name, pairs: pairs.clean.length, edges: E, threshold, top_heads: topHeads };
for (const [name, scores] of [['eap', s.eap], ['eap_ig', s.eapIg!]] as const) {
  const ranked = rankEdges(scores);
  const circuits = Array.from({ length: E }, (_, i) => topN(g, ranked, i + 1));
  const fs = await faithfulness(f, circuits);
  const i = fs.findIndex((v) => v >= threshold);
  if (i < 0) {
    log(`${name}: no top-n circuit reaches ${threshold}`);
    report[name] = null;
    continue;
  }
  const nodes = circuitNodes(g, circuits[i]);
  const heads = nodes.filter((x) => /^a\d+\.h\d+$/.test(x));
  const r = {
    n: i + 1,
    edges_after_pruning: edgesIn(circuits[i]),
    faithfulness: fs[i],
    nodes,
    top_heads_in_circuit: topHeads.map((h) => ({ head: h.head, in: heads.includes(h.head) })),
  };
  report[name] = r;
  log(
    `${name}: smallest top-n with faithfulness ≥ ${threshold}: n = ${r.n} (${r.edges_after_pruning} edges after pruning, F = ${r.faithfulness.toFixed(3)}), ` +
      `${heads.length} heads: ${heads.join(' ')}; top activation-patching heads in it: ${r.top_heads_in_circuit.map((h) => `${h.head} ${h.in ? 'yes' : 'no'}`).join(', ')}`,
  );
}
f.dispose();
report.seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify(report));
model.dispose();
