/**
 * Trains the bundled demo model, resources/models/demo: a small GPT-2 that solves the task
 * library's tasks (IOI, induction, pronoun resolution), so that patching finds a real circuit in it.
 *
 *   npm run train:demo                      # the full, reproducible run, then MODEL_CARD.md
 *   npm run train:demo -- --steps 30 --out /tmp/demo --no-card   # a quick calibration run
 *
 * Everything is seeded from HYPER.seed: the tokenizer's text, the initial weights and every
 * step's sentences; the two threads split each step the same way every run, so a rerun on the
 * same backend reproduces the weights. Steps:
 *  1. learn a byte-level BPE vocabulary (~1000 tokens) on the tasks' text, every name, pronoun
 *     and induction word a single token;
 *  2. train with next-token cross-entropy on fresh task sentences every step (BOS + sentence,
 *     every position scored, the answer token weighted up), AdamW, warm-up + cosine schedule,
 *     the hand-written backward pass of grad.ts, data-parallel over 2 threads;
 *  3. write the Hugging Face folder and training_log.json, then run model-card.ts.
 */
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { initBackend } from '../backend.ts';
import { trainByteLevelBpe, writeTokenizerFiles } from '../bpe-train.ts';
import { writeFileAtomic } from '../files.ts';
import { HookedModel } from '../model.ts';
import { taskText, taskTokens, type TaskName } from '../tasks/index.ts';
import { GPT2_EOS, loadTokenizer } from '../tokenizer.ts';
import { writeModelFolder } from './checkpoint.ts';
import { ExampleMaker, shardExamples, toBatch, type Example } from './data.ts';
import { scoreTask, type TaskScore } from './evaluate.ts';
import { AdamW, clipGlobalNorm, learningRate } from './optim.ts';
import { initParams, paramLayout, type ArchConfig } from './params.ts';
import { runShard, type ShardResult } from './shard.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEMO_DIR = join(REPO_ROOT, 'resources/models/demo');
export const TASK_LIST: TaskName[] = ['ioi', 'induction', 'pronoun'];

/** Every choice of the run, recorded in training_log.json and the model card. */
export const HYPER = {
  seed: 1234,
  /** GPT-2 shape: 4 layers × 4 heads, d_model 128, d_mlp 4·128; prompts are < 32 tokens */
  arch: { nLayers: 4, nHeads: 4, dModel: 128, dMlp: 512, nCtx: 64, eps: 1e-5 },
  /** BPE: vocabulary size asked for, and sentences per task it is learned from */
  vocabSize: 1000,
  bpeSentencesPerTask: 4000,
  steps: 1000,
  /** sentences per step, by task (fresh every step) */
  batch: { ioi: 48, induction: 28, pronoun: 20 } as Record<TaskName, number>,
  /** loss weight of the token that answers the task (every other position weighs 1) */
  answerWeight: 4,
  /** loss weight of the other induction words that can be copied from their first occurrence */
  copyWeight: 4,
  lr: 2e-3,
  warmupSteps: 100,
  /** cosine decay to this fraction of the peak learning rate */
  finalLrFraction: 0.1,
  beta1: 0.9,
  beta2: 0.98,
  adamEps: 1e-8,
  weightDecay: 0.05,
  gradClip: 1.0,
  initStd: 0.02,
  threads: 2,
  /** batches per thread per step (sequences sorted by length, to keep padding small) */
  chunksPerThread: 2,
  /** held-out check (and checkpoint written) every this many steps */
  evalEvery: 200,
};
export type Hyper = typeof HYPER;

/** Seeds of the data: disjoint from the seeds the model card and tests draw held-out pairs from (< 1e6). */
export const bpeSeed = (h: Hyper, t: number) => h.seed * 1000 + 100 + t;
export const stepSeed = (h: Hyper, step: number, t: number) => h.seed * 1_000_000 + 3 * step + t;
/** generatePairs seeds used to watch progress during training (not used by the card or tests) */
const MONITOR_SEED = 777;

export interface TrainLog {
  hyper: Hyper;
  vocabSize: number;
  paramCount: number;
  backend: string;
  threads: number;
  cpu: string;
  /** 1-minute load average of the machine at the start and at the end (other processes share the cores) */
  loadAverage: { start: number; end: number };
  startedAt: string;
  seconds: number;
  /** every 10 steps: step, mean token loss, answer loss per task (unweighted means, nats) */
  curve: { step: number; loss: number; answer: Record<TaskName, number>; lr: number; gradNorm: number; seconds: number }[];
  /** held-out checks made during training */
  evals: { step: number; scores: Record<TaskName, TaskScore> }[];
  /** means over the last 50 steps */
  final: { loss: number; weightedLoss: number; answer: Record<TaskName, number> };
}

function parseArgs(argv: string[]) {
  const o = { steps: HYPER.steps, out: DEMO_DIR, card: true, threads: HYPER.threads };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--steps') o.steps = Number(argv[++i]);
    else if (a === '--out') o.out = resolve(argv[++i]);
    else if (a === '--no-card') o.card = false;
    else if (a === '--threads') o.threads = Number(argv[++i]);
    else throw new Error(`unknown argument ${a} (use --steps N, --out DIR, --threads N, --no-card)`);
  }
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error('--steps must be a positive integer');
  if (!Number.isInteger(o.threads) || o.threads < 1) throw new Error('--threads must be a positive integer');
  return o;
}

class Pool {
  private readonly workers: Worker[] = [];
  private constructor() {}
  static async start(n: number, cfg: ArchConfig, paramsBuffer: SharedArrayBuffer, gradsBuffers: SharedArrayBuffer[]): Promise<Pool> {
    const pool = new Pool();
    await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const w = new Worker(new URL('./worker-boot.mjs', import.meta.url), { workerData: { cfg, paramsBuffer, gradsBuffer: gradsBuffers[i] } });
        pool.workers.push(w);
        return new Promise<void>((res, rej) => {
          w.once('message', () => res());
          w.once('error', rej);
        });
      }),
    );
    return pool;
  }
  run(i: number, chunks: ReturnType<typeof toBatch>[]): Promise<ShardResult> {
    const w = this.workers[i];
    return new Promise((res, rej) => {
      w.once('message', (m: ShardResult & { error?: string }) => (m.error ? rej(new Error(`worker ${i}: ${m.error}`)) : res(m)));
      w.postMessage({ chunks });
    });
  }
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

export async function trainDemo(o: { steps: number; out: string; card: boolean; threads: number }): Promise<TrainLog> {
  const h: Hyper = { ...HYPER, steps: o.steps, threads: o.threads };
  const t0 = performance.now();
  const backend = await initBackend();
  const say = (s: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${s}`);

  // 1. tokenizer
  const bpeText = TASK_LIST.flatMap((task, t) => taskText(task, { n: h.bpeSentencesPerTask, seed: bpeSeed(h, t) }));
  const bpe = trainByteLevelBpe(bpeText, { vocabSize: h.vocabSize, requiredTokens: taskTokens() });
  writeTokenizerFiles(o.out, bpe);
  const tokenizer = await loadTokenizer(o.out);
  const eot = bpe.vocab[GPT2_EOS];
  const cfg: ArchConfig = { ...h.arch, vocabSize: Object.keys(bpe.vocab).length };
  const layout = paramLayout(cfg);
  say(`vocabulary: ${cfg.vocabSize} tokens; model: ${layout.total.toLocaleString('en')} parameters; backend ${backend}, ${h.threads} thread(s)`);

  // 2. training
  const params = new Float32Array(new SharedArrayBuffer(layout.total * 4));
  initParams(cfg, layout, h.seed, h.initStd, params);
  const gradsBuffers = Array.from({ length: h.threads - 1 }, () => new SharedArrayBuffer(layout.total * 4));
  const workerGrads = gradsBuffers.map((b) => new Float32Array(b));
  const mainGrads = new Float32Array(layout.total);
  const pool = await Pool.start(h.threads - 1, cfg, params.buffer as SharedArrayBuffer, gradsBuffers);
  const opt = new AdamW(layout, { lr: h.lr, beta1: h.beta1, beta2: h.beta2, eps: h.adamEps, weightDecay: h.weightDecay });
  const maker = new ExampleMaker(tokenizer, eot);
  const log: TrainLog = {
    hyper: h, vocabSize: cfg.vocabSize, paramCount: layout.total, backend, threads: h.threads, cpu: cpus()[0]?.model ?? 'unknown',
    loadAverage: { start: loadavg()[0], end: NaN }, startedAt: new Date().toISOString(), seconds: 0, curve: [], evals: [],
    final: { loss: NaN, weightedLoss: NaN, answer: { ioi: NaN, induction: NaN, pronoun: NaN } },
  };
  const recent: { loss: number; weighted: number; answer: Record<TaskName, number> }[] = [];
  let window = { tokens: 0, loss: 0, ans: new Map<TaskName, { n: number; s: number }>(), norm: 0, steps: 0 };

  const save = async (step: number) => {
    writeModelFolder(o.out, cfg, layout, params, bpe, { step: String(step), seed: String(h.seed) });
    const model = await HookedModel.load(o.out);
    try {
      const scores = {} as Record<TaskName, TaskScore>;
      for (const task of TASK_LIST) scores[task] = await scoreTask(model, task, { n: 96, seed: MONITOR_SEED });
      log.evals.push({ step, scores });
      say(
        `step ${step}: held-out ` +
          TASK_LIST.map((t) => `${t} acc ${(100 * scores[t].accuracy).toFixed(1)}% diff ${scores[t].meanLogitDiff.toFixed(2)}`).join(' | '),
      );
    } finally {
      model.dispose();
    }
  };

  try {
    for (let step = 0; step < h.steps; step++) {
      const examples = maker.draw(h.batch, (task) => stepSeed(h, step, TASK_LIST.indexOf(task)));
      const shards = shardExamples(examples, h.threads, h.chunksPerThread);
      const batches = shards.map((chunks) => chunks.map((c) => toBatch(c, h.answerWeight, eot, h.copyWeight)));
      const pending = batches.slice(1).map((b, i) => pool.run(i, b));
      const results = [runShard(cfg, layout, params, batches[0], mainGrads), ...(await Promise.all(pending))];
      // sum the threads' gradients (in a fixed order, so runs are reproducible), mean over weighted tokens
      let loss = 0;
      let weight = 0;
      for (const r of results) {
        loss += r.loss;
        weight += r.weight;
      }
      for (const g of workerGrads) for (let i = 0; i < g.length; i++) mainGrads[i] += g[i];
      for (let i = 0; i < mainGrads.length; i++) mainGrads[i] /= weight;
      const norm = clipGlobalNorm(mainGrads, h.gradClip);
      const lr = learningRate(step, { peak: h.lr, warmup: h.warmupSteps, total: h.steps, finalFraction: h.finalLrFraction });
      opt.step(params, mainGrads, lr);

      // monitoring: unweighted mean token loss and the answer token's loss per task
      let tokLoss = 0;
      let tokens = 0;
      const ans = new Map<TaskName, { n: number; s: number }>();
      results.forEach((r, s) =>
        r.nll.forEach((nll, c) => {
          const chunk: Example[] = shards[s][c];
          const p = batches[s][c].p;
          chunk.forEach((e, row) => {
            for (let j = 0; j + 1 < e.ids.length; j++) {
              tokLoss += nll[row * p + j];
              tokens++;
            }
            const a = ans.get(e.task) ?? { n: 0, s: 0 };
            a.n++;
            a.s += nll[row * p + e.answer - 1];
            ans.set(e.task, a);
          });
        }),
      );
      const answer = Object.fromEntries(TASK_LIST.map((t) => [t, ans.get(t)!.s / ans.get(t)!.n])) as Record<TaskName, number>;
      recent.push({ loss: tokLoss / tokens, weighted: loss / weight, answer });
      if (recent.length > 50) recent.shift();
      window.tokens += tokens;
      window.loss += tokLoss;
      window.norm += norm;
      window.steps++;
      for (const [t, a] of ans) {
        const w = window.ans.get(t) ?? { n: 0, s: 0 };
        w.n += a.n;
        w.s += a.s;
        window.ans.set(t, w);
      }
      if ((step + 1) % 10 === 0 || step === h.steps - 1) {
        const entry = {
          step: step + 1,
          loss: window.loss / window.tokens,
          answer: Object.fromEntries(TASK_LIST.map((t) => [t, window.ans.get(t)!.s / window.ans.get(t)!.n])) as Record<TaskName, number>,
          lr,
          gradNorm: window.norm / window.steps,
          seconds: (performance.now() - t0) / 1000,
        };
        log.curve.push(entry);
        say(
          `step ${entry.step}/${h.steps} loss ${entry.loss.toFixed(3)} answer ` +
            TASK_LIST.map((t) => `${t} ${entry.answer[t].toFixed(3)}`).join(' ') +
            ` lr ${lr.toExponential(2)} |g| ${entry.gradNorm.toFixed(2)}`,
        );
        window = { tokens: 0, loss: 0, ans: new Map(), norm: 0, steps: 0 };
      }
      if ((step + 1) % h.evalEvery === 0 && step + 1 < h.steps) await save(step + 1);
    }
  } finally {
    await pool.stop();
  }
  const m = (f: (r: (typeof recent)[number]) => number) => recent.reduce((a, r) => a + f(r), 0) / recent.length;
  log.final = {
    loss: m((r) => r.loss),
    weightedLoss: m((r) => r.weighted),
    answer: Object.fromEntries(TASK_LIST.map((t) => [t, m((r) => r.answer[t])])) as Record<TaskName, number>,
  };
  log.seconds = (performance.now() - t0) / 1000;
  log.loadAverage.end = loadavg()[0];
  await save(h.steps);
  log.seconds = (performance.now() - t0) / 1000;
  writeFileAtomic(join(o.out, 'training_log.json'), JSON.stringify(log, null, 1) + '\n');
  say(`trained in ${log.seconds.toFixed(0)} s; final loss ${log.final.loss.toFixed(4)} (last 50 steps), written to ${o.out}`);
  if (o.card) {
    const { writeModelCard } = await import('./model-card.ts');
    await writeModelCard(o.out);
    say(`model card written to ${join(o.out, 'MODEL_CARD.md')}`);
  }
  return log;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  trainDemo(parseArgs(process.argv.slice(2))).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
