/**
 * Measures the demo model and writes its MODEL_CARD.md (and the same numbers as model_card.json):
 * how it was trained (from training_log.json), task scores on held-out pairs, which heads matter
 * by activation patching, and how well attribution patching agrees. Every number in the card
 * comes from this script; run at the end of `npm run train:demo`, or alone:
 *
 *   node --import tsx main/engine/train/model-card.ts [model-dir]
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../files.ts';
import { HookedModel } from '../model.ts';
import { componentIndex, componentLabel, type Kind } from '../patching/components.ts';
import { runPatching, type KindResult, type PatchingResult } from '../patching/index.ts';
import { tokenizePairs } from '../patching/pairs.ts';
import { topK } from '../patching/summary.ts';
import { generatePairs, TASKS, type PromptPair, type TaskName } from '../tasks/index.ts';
import { scorePairs, type TaskScore } from './evaluate.ts';
import type { TrainLog } from './train-demo.ts';

/** Held-out generatePairs seeds of the card (training text uses seeds ≥ 1e6, see train-demo.ts). */
export const CARD_SEEDS: Record<TaskName, number> = { ioi: 9001, induction: 9002, pronoun: 9003 };
/** Seeds of the pairs patched in the card. */
export const PATCH_SEEDS: Record<TaskName, number> = { ioi: 9101, induction: 9102, pronoun: 9103 };
const SCORE_N = 300;
const PATCH_KINDS: Kind[] = ['head_z', 'resid_pre', 'attn_out', 'mlp_out', 'head_z_pos'];
const PATCH_MAX_PAIRS = 64;

export interface HeadRow {
  label: string;
  layer: number;
  head: number;
  activation: number;
  attribution: number;
  /** mean attention from the last position to the answer's token(s), the wrong token's, the positions the corruption changes, and BOS */
  attnAnswer: number;
  attnWrong: number;
  attnChanged: number;
  attnBos: number;
}

export interface KindAgreement {
  kind: Kind;
  components: number;
  pearson: number | null;
  spearman: number | null;
  /** |top-5 by |attribution|| ∩ |top-5 by |activation|| / 5 */
  recallTop5: number;
  topActivation: { label: string; activation: number; attribution: number }[];
}

export interface PatchReport {
  task: TaskName;
  seed: number;
  pairs: number;
  positions: number;
  cleanLogitDiff: number;
  corruptedLogitDiff: number;
  /** the first clean and corrupted prompts as token strings, to read positions by */
  example: { clean: string[]; corrupted: string[] };
  heads: HeadRow[];
  agreement: KindAgreement[];
  seconds: number;
}

export interface CardData {
  model: { dir: string; nLayers: number; nHeads: number; dModel: number; dMlp: number; nCtx: number; vocab: number; params: number; bytes: number };
  training?: TrainLog;
  scores: Record<TaskName, TaskScore & { seed: number }>;
  patching: PatchReport[];
  backend: string;
}

/** Mean attention of every head from the last position to the answer/wrong tokens' positions and BOS. */
async function headAttention(model: HookedModel, pairs: PromptPair[]) {
  const tok = tokenizePairs(model, pairs);
  const { nLayers: L, nHeads: H } = model.config;
  const P = tok.clean[0].length;
  const K = 4;
  const sums = new Float64Array(L * H * K);
  const tokens = model.tokensTensor(tok.clean);
  const patterns: tf.Tensor[] = [];
  const { final } = model.run(tokens, {
    hook: (name, x) => {
      if (name.endsWith('attn.hook_pattern')) patterns.push(tf.keep(tf.slice(x, [0, 0, x.shape[2]! - 1, 0], [x.shape[0], H, 1, P])));
      return x;
    },
  });
  for (let l = 0; l < L; l++) {
    const a = (await patterns[l].array()) as number[][][][]; // [B, H, 1, P]
    tok.clean.forEach((ids, b) => {
      for (let h = 0; h < H; h++) {
        const row = a[b][h][0];
        const k = (l * H + h) * K;
        ids.forEach((t, p) => {
          if (t === tok.answer[b]) sums[k] += row[p];
          if (t === tok.wrong[b]) sums[k + 1] += row[p];
          if (t !== tok.corrupted[b][p]) sums[k + 2] += row[p];
        });
        sums[k + 3] += row[0];
      }
    });
  }
  tf.dispose([tokens, final, ...patterns]);
  return (l: number, h: number) => {
    const k = (l * H + h) * K;
    const n = tok.clean.length;
    return { attnAnswer: sums[k] / n, attnWrong: sums[k + 1] / n, attnChanged: sums[k + 2] / n, attnBos: sums[k + 3] / n };
  };
}

function agreement(model: HookedModel, r: KindResult): KindAgreement {
  const act = r.activation!;
  const attr = r.attribution!;
  const topAct = topK(act, 5);
  const topAttr = new Set(topK(attr, 5));
  return {
    kind: r.kind,
    components: act.length,
    pearson: r.summary?.pearson ?? null,
    spearman: r.summary?.spearman ?? null,
    recallTop5: topAct.filter((i) => topAttr.has(i)).length / Math.min(5, act.length),
    topActivation: topAct.map((i) => ({ label: componentLabel(r.kind, componentIndex(r.shape, i)), activation: act[i], attribution: attr[i] })),
  };
}

/** Activation and attribution patching (denoising, logit difference) on the task's most common prompt length. */
export async function patchTask(model: HookedModel, task: TaskName, seed: number, kinds: Kind[], maxPairs = PATCH_MAX_PAIRS): Promise<PatchReport & { result: PatchingResult }> {
  // generatePairs keeps the most common token length, so the pairs patch as one batch
  const pairs = generatePairs(task, { n: maxPairs, seed, tokenizer: model.tokenizer });
  const length = model.encodePrompt(pairs[0].clean).length;
  const strings = (text: string) => model.encodePrompt(text).map((id) => model.tokenizer.tokenString(id));
  const example = { clean: strings(pairs[0].clean), corrupted: strings(pairs[0].corrupted) };
  const result = await runPatching(model, tokenizePairs(model, pairs), { direction: 'denoising', metric: 'logit-diff', kinds, method: 'both' });
  const hz = result.kinds.find((k) => k.kind === 'head_z')!;
  const attn = await headAttention(model, pairs);
  const heads: HeadRow[] = [];
  for (let i = 0; i < hz.activation!.length; i++) {
    const [layer, head] = componentIndex(hz.shape, i);
    heads.push({ label: componentLabel('head_z', [layer, head]), layer, head, activation: hz.activation![i], attribution: hz.attribution![i], ...attn(layer, head) });
  }
  heads.sort((a, b) => Math.abs(b.activation) - Math.abs(a.activation));
  return {
    task,
    seed,
    pairs: pairs.length,
    positions: length,
    cleanLogitDiff: result.metric.clean,
    corruptedLogitDiff: result.metric.corrupted,
    example,
    heads,
    agreement: result.kinds.map((k) => agreement(model, k)),
    seconds: result.seconds,
    result,
  };
}

export async function measure(dir: string): Promise<CardData> {
  const model = await HookedModel.load(dir);
  try {
    const scores = {} as CardData['scores'];
    for (const task of Object.keys(TASKS) as TaskName[]) {
      const pairs = generatePairs(task, { n: SCORE_N, seed: CARD_SEEDS[task], tokenizer: model.tokenizer, uniformLength: false });
      scores[task] = { ...(await scorePairs(model, pairs)), seed: CARD_SEEDS[task] };
    }
    const patching: PatchReport[] = [];
    for (const task of Object.keys(TASKS) as TaskName[]) {
      const { result: _r, ...report } = await patchTask(model, task, PATCH_SEEDS[task], task === 'ioi' ? PATCH_KINDS : ['head_z']);
      patching.push(report);
    }
    const logPath = join(dir, 'training_log.json');
    const c = model.config;
    const bytes = readFileSync(join(dir, 'model.safetensors')).length;
    return {
      model: { dir, nLayers: c.nLayers, nHeads: c.nHeads, dModel: c.dModel, dMlp: c.dMlp, nCtx: c.nCtx, vocab: c.dVocab, params: model.info.paramCount, bytes },
      training: existsSync(logPath) ? (JSON.parse(readFileSync(logPath, 'utf8')) as TrainLog) : undefined,
      scores,
      patching,
      backend: model.info.backend,
    };
  } finally {
    model.dispose();
  }
}

const f = (x: number | null | undefined, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function renderCard(d: CardData, repoRoot: string): string {
  const t = d.training;
  const h = t?.hyper;
  const ioi = d.patching.find((p) => p.task === 'ioi')!;
  const lines: string[] = [];
  const out = (s = '') => lines.push(s);
  out('# Patchbench demo model');
  out();
  out(
    `A ${d.model.nLayers}-layer, ${d.model.nHeads}-head GPT-2 (d_model ${d.model.dModel}, d_mlp ${d.model.dMlp}, context ${d.model.nCtx}, ` +
      `vocabulary ${d.model.vocab}, ${d.model.params.toLocaleString('en')} parameters, ${(d.model.bytes / 1e6).toFixed(1)} MB float32) trained from scratch on the ` +
      'task library\'s sentences so that it really solves indirect object identification (IOI), induction and pronoun resolution, and patching ' +
      'finds a real circuit in it. It is a standard Hugging Face GPT-2 folder (`GPT2LMHeadModel`, tied embeddings, byte-level BPE tokenizer); ' +
      'prompts are meant to start with the BOS token `<|endoftext|>`, as Patchbench adds it.',
  );
  out();
  out('_Every number below is measured by `main/engine/train/model-card.ts`; nothing is typed by hand._');
  out();
  out('## How it was made');
  out();
  if (t && h) {
    out('```');
    out('npm run train:demo');
    out('```');
    out();
    out(
      `\`main/engine/train/train-demo.ts\`, seed ${h.seed}. First a byte-level BPE vocabulary is learned on ${h.bpeSentencesPerTask} sentences per task ` +
        `(asked ${h.vocabSize} tokens, got ${t.vocabSize}; every name, pronoun and induction word is a single token). Then ${h.steps} AdamW steps of next-token ` +
        'cross-entropy on fresh task sentences every step (`taskText` of the task library: IOI sentences ending in the indirect object, repeated random-word ' +
        'sequences, "<name> said that he/she …" sentences), each sequence BOS + sentence, every position scored, the answer token weighted ' +
        `×${h.answerWeight} (and the other induction words that can be copied ×${h.copyWeight}). The weight gradients come from the hand-written backward pass in \`main/engine/train/grad.ts\` (checked against finite ` +
        'differences in `test/train.test.ts`).',
    );
    out();
    out('| hyper-parameter | value |');
    out('|---|---|');
    const rows: [string, string][] = [
      ['layers × heads, d_model, d_mlp, n_positions', `${h.arch.nLayers} × ${h.arch.nHeads}, ${h.arch.dModel}, ${h.arch.dMlp}, ${h.arch.nCtx}`],
      ['sentences per step (IOI / induction / pronoun)', `${h.batch.ioi} / ${h.batch.induction} / ${h.batch.pronoun}`],
      ['steps, warm-up', `${h.steps}, ${h.warmupSteps}`],
      ['peak learning rate, schedule', `${h.lr}, linear warm-up then cosine to ${h.finalLrFraction}× peak`],
      ['AdamW β1, β2, ε, weight decay', `${h.beta1}, ${h.beta2}, ${h.adamEps}, ${h.weightDecay} (matrices and embeddings only)`],
      ['gradient clipping (global norm)', `${h.gradClip}`],
      ['init', `N(0, ${h.initStd}), c_proj scaled by 1/√(2·n_layer)`],
      ['answer-token loss weight', `${h.answerWeight}`],
      ['loss weight of the other copyable induction words', `${h.copyWeight}`],
      ['dropout', 'none'],
    ];
    for (const [k, v] of rows) out(`| ${k} | ${v} |`);
    out();
    out(
      `Training took **${(t.seconds / 60).toFixed(1)} minutes** (${(t.seconds / h.steps).toFixed(2)} s per step, held-out checks included) on ${t.threads} thread(s) of ${t.cpu} ` +
        `(tfjs ${t.backend} backend${t.loadAverage ? `; 1-minute load average ${t.loadAverage.start.toFixed(1)} at the start and ${t.loadAverage.end.toFixed(1)} at the end, other processes sharing the cores` : ''}). ` +
        `Final loss (mean over the last 50 steps): **${t.final.loss.toFixed(3)} nats/token** over all positions ` +
        `(weighted training objective ${t.final.weightedLoss.toFixed(3)}); loss on the answer token: IOI ${t.final.answer.ioi.toFixed(3)}, ` +
        `induction ${t.final.answer.induction.toFixed(3)}, pronoun ${t.final.answer.pronoun.toFixed(3)}. Most of the remaining loss is irreducible: ` +
        'names, places, objects and the first half of each induction sequence are drawn at random.',
    );
    const curve = t.curve.filter((c, i) => i % Math.max(1, Math.floor(t.curve.length / 8)) === 0 || i === t.curve.length - 1);
    out();
    out('| step | loss | IOI answer | induction answer | pronoun answer |');
    out('|---:|---:|---:|---:|---:|');
    for (const c of curve) out(`| ${c.step} | ${f(c.loss, 3)} | ${f(c.answer.ioi, 3)} | ${f(c.answer.induction, 3)} | ${f(c.answer.pronoun, 3)} |`);
  } else {
    out('(training_log.json is missing, so the training details cannot be reported.)');
  }
  out();
  out('## What it does');
  out();
  out(
    `Measured on ${SCORE_N} held-out prompt pairs per task from \`generatePairs\` (seeds ${Object.values(CARD_SEEDS).join(', ')}, all templates and lengths; ` +
      'training sentences come from other seeds, so the name/template/word combinations are unseen). "Beats wrong" counts clean prompts where logit(answer) > logit(wrong).',
  );
  out();
  out('| task | beats wrong | mean logit diff (clean) | mean logit diff (corrupted) | answer is top-1 | mean p(answer) |');
  out('|---|---:|---:|---:|---:|---:|');
  for (const [task, s] of Object.entries(d.scores) as [TaskName, CardData['scores'][TaskName]][]) {
    out(`| ${task} | ${pct(s.accuracy)} | ${f(s.meanLogitDiff)} | ${f(s.corruptedMeanLogitDiff)} | ${pct(s.top1)} | ${f(s.meanProb, 3)} |`);
  }
  out();
  out('## Which heads matter (activation patching)');
  out();
  out(
    'Denoising activation patching with the logit-difference metric, normalised so that the corrupted run is 0 and the clean run 1: each value is how much ' +
      'of the clean behaviour one head\'s output (`head_z`, all positions) restores when patched from the clean into the corrupted run. ' +
      'Pairs of one token length (patching needs aligned prompts), the most common one among the generated pairs. ' +
      '"attn → answer / wrong / changed / BOS" is the head\'s mean attention from the last position, on the clean prompts, to the answer token, the wrong token ' +
      '(IOI: both mentions of the subject), the positions the corruption changes (IOI: the second mention of the subject; induction: the repeated words; pronoun: the name) and BOS.',
  );
  for (const p of d.patching) {
    out();
    out(
      `### ${p.task} (${p.pairs} pairs of ${p.positions} tokens, seed ${p.seed}; clean logit diff ${f(p.cleanLogitDiff)}, corrupted ${f(p.corruptedLogitDiff)}` +
        `${p.task === 'ioi' ? ', subject-swap corruption' : ''})`,
    );
    out();
    out('| head | activation patching | attribution patching | attn → answer | attn → wrong | attn → changed | attn → BOS |');
    out('|---|---:|---:|---:|---:|---:|---:|');
    for (const r of p.heads.slice(0, 6)) {
      out(`| ${r.label} | ${f(r.activation, 3)} | ${f(r.attribution, 3)} | ${f(r.attnAnswer)} | ${f(r.attnWrong)} | ${f(r.attnChanged)} | ${f(r.attnBos)} |`);
    }
  }
  out();
  out('## How well attribution patching ranks them');
  out();
  out(
    `IOI, the same ${ioi.pairs} pairs: attribution patching (one backward pass) against activation patching (one patched run per component), per component kind. ` +
      'Recall of the top 5 = how many of the 5 components with the largest |activation-patching effect| are among the 5 with the largest |attribution|.',
  );
  out();
  const show = (toks: string[]) => toks.map((t, i) => `${i} ${JSON.stringify(t)}`).join(', ');
  out(`Positions, in the first pair: clean ${show(ioi.example.clean)}; corrupted ${show(ioi.example.corrupted)}.`);
  out();
  out('| kind | components | Pearson | Spearman | recall of top 5 | top 5 by activation patching (activation / attribution) |');
  out('|---|---:|---:|---:|---:|---|');
  for (const a of ioi.agreement) {
    out(
      `| ${a.kind} | ${a.components} | ${f(a.pearson)} | ${f(a.spearman)} | ${a.recallTop5 * 5}/5 | ` +
        a.topActivation.map((x) => `${x.label.replace(`${a.kind} `, '')} ${f(x.activation)} / ${f(x.attribution)}`).join('; ') +
        ' |',
    );
  }
  out();
  out('## Files');
  out();
  out(
    '`config.json`, `model.safetensors` (float32, Hugging Face GPT-2 names and Conv1D layout), `vocab.json` + `merges.txt` and `tokenizer.json` (the same tokenizer), ' +
      '`tokenizer_config.json`, `special_tokens_map.json`, `generation_config.json`, `training_log.json` (hyper-parameters, loss curve, held-out checks during training), ' +
      '`model_card.json` (the numbers of this card). `<|endoftext|>` (the last id) is BOS, EOS and UNK.',
  );
  out();
  out(`Card generated by \`${relative(repoRoot, fileURLToPath(import.meta.url))}\` on the ${d.backend} backend.`);
  return lines.join('\n') + '\n';
}

export async function writeModelCard(dir: string): Promise<CardData> {
  const data = await measure(resolve(dir));
  const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../..');
  writeFileAtomic(join(dir, 'MODEL_CARD.md'), renderCard(data, repoRoot));
  const { training: _t, ...rest } = data;
  writeFileAtomic(join(dir, 'model_card.json'), JSON.stringify({ ...rest, model: { ...rest.model, dir: relative(repoRoot, dir) } }, null, 1) + '\n');
  return data;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? resolve(fileURLToPath(import.meta.url), '../../../../resources/models/demo');
  writeModelCard(dir).then(
    (d) => console.log(`wrote ${join(dir, 'MODEL_CARD.md')}: ` + Object.entries(d.scores).map(([k, s]) => `${k} ${pct(s.accuracy)} (${f(s.meanLogitDiff)})`).join(', ')),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
