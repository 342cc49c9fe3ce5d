import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend.ts';
import { loadTokenizer } from '../tokenizer.ts';
import { ExampleMaker, shardExamples, toBatch } from './data.ts';
import { initParams, paramLayout } from './params.ts';
import { runShard } from './shard.ts';
import { lossAndGrads, uploadWeights } from './grad.ts';
await initBackend(process.env.BE);
const tok = await loadTokenizer('/tmp/demo-cal');
const cfg = { nLayers: 4, nHeads: 4, dModel: 128, dMlp: 512, nCtx: 64, eps: 1e-5, vocabSize: 987 };
const layout = paramLayout(cfg);
const params = initParams(cfg, layout, 1);
const maker = new ExampleMaker(tok, 986);
const ex = maker.draw({ ioi: 48, induction: 28, pronoun: 20 }, (t) => 5 + t.length);
const chunksN = Number(process.env.CH ?? 2);
const shards = shardExamples(ex, 2, chunksN);
const batches = shards[0].map((c) => toBatch(c, 4, 986));
console.log(batches.map((b) => `${b.n}x${b.p}`));
const grads = new Float32Array(layout.total);
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  runShard(cfg, layout, params, batches, grads);
  console.log('shard', (performance.now() - t0).toFixed(0), 'ms');
}
const w = uploadWeights(cfg, layout, params);
let t0 = performance.now();
for (let i = 0; i < 3; i++) lossAndGrads(cfg, layout, w, batches[0]);
console.log('fwd only chunk0', ((performance.now() - t0) / 3).toFixed(0));
// op profile
const prof = await tf.profile(() => { lossAndGrads(cfg, layout, w, batches[0], grads); return tf.scalar(0); });
const agg = new Map<string, { n: number; ms: number }>();
for (const k of prof.kernels) { const a = agg.get(k.name) ?? { n: 0, ms: 0 }; a.n++; a.ms += (k.kernelTimeMs as number) || 0; agg.set(k.name, a); }
console.log([...agg].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25).map(([k, v]) => `${k} n=${v.n} ${v.ms.toFixed(1)}ms`).join('\n'));
console.log('total kernels', prof.kernels.length, 'sum ms', [...agg.values()].reduce((a, b) => a + b.ms, 0).toFixed(0));
const shapes = new Map<string, { n: number; ms: number }>();
for (const k of prof.kernels) if (k.name === 'BatchMatMul') { const key = k.inputShapes.map((s) => `[${s}]`).join('x'); const a = shapes.get(key) ?? { n: 0, ms: 0 }; a.n++; a.ms += k.kernelTimeMs as number; shapes.set(key, a); }
console.log([...shapes].sort((a, b) => b[1].ms - a[1].ms).map(([k, v]) => `${k} n=${v.n} ${v.ms.toFixed(1)}ms`).join('\n'));
