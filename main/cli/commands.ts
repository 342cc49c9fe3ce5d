/** The commands of `patchbench`: each declares its options, help text and what it does. */
import { existsSync, readFileSync } from 'node:fs';
import { badInput, badModel } from '../engine/errors.ts';
import { bundledModelDir, discoverModels } from '../engine/discovery.ts';
import { parseMetric } from '../engine/metrics.ts';
import { HookedModel } from '../engine/model.ts';
import { defaultThreads, PartPool } from '../engine/parallel/pool.ts';
import { parseKinds } from '../engine/patching/components.ts';
import { DEFAULT_RECALL_K, RANKINGS, runPatching, type Method, type Ranking } from '../engine/patching/index.ts';
import { parsePairsJsonl, tokenizePairs, type PromptPair } from '../engine/patching/pairs.ts';
import { topComponentsTable, toCsv, toJsonReport } from '../engine/patching/report.ts';
import type { Direction } from '../engine/patching/runs.ts';
import { predictNext } from '../engine/predict.ts';
import { generatePairs, generatePairSet, TASKS } from '../engine/tasks/index.ts';
import { loadTokenizer } from '../engine/tokenizer.ts';
import { checkNotReadOnly, checkOutput, writeOutput } from '../engine/files.ts';
import { checkModel, loadProjectInfo, projectFromResult, requestFromSettings, saveProject } from '../engine/project/index.ts';
import { progressBar } from './progress.ts';
import { runCircuit, type CircuitMethod } from '../engine/circuits/index.ts';
import { toCircuitCsv, toCircuitJson } from '../engine/circuits/report.ts';
import { circuitFromResult } from '../engine/project/circuit.ts';

type Values = Record<string, string | boolean | undefined>;
interface Option { type: 'string' | 'boolean'; short?: string }
export interface Command {
  summary: string;
  args: string;
  options: Record<string, Option>;
  help: string[];
  positional?: boolean;
  run(v: Values, positionals: string[]): Promise<number | void>;
}

const common = { help: { type: 'boolean', short: 'h' } } as const;
const modelOpt = { model: { type: 'string' } } as const;
const json = { json: { type: 'boolean' } } as const;

function modelDir(v: Values): string {
  if (typeof v.model === 'string') return v.model;
  const demo = bundledModelDir();
  if (!existsSync(demo)) throw badInput(`no --model given and the bundled demo model is missing at ${demo}`);
  return demo;
}

function int(v: Values, name: string, fallback: number): number {
  const raw = v[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw badInput(`--${name} must be an integer, got "${raw}"`);
  return n;
}

/** --out and --csv are refused before any work when they name a project or a model file. */
function checkOutputs(v: Values): void {
  checkOutput(typeof v.out === 'string' ? v.out : undefined, '--out');
  checkOutput(typeof v.csv === 'string' ? v.csv : undefined, '--csv');
}

/** --batch N: pairs per batch, or undefined to let the job plan it. */
function batchOption(v: Values): number | undefined {
  if (v.batch === undefined) return undefined;
  const n = int(v, 'batch', 0);
  if (n < 1) throw badInput('--batch must be a positive integer');
  return n;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw badInput(`${path}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
}

const print = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');

export const COMMANDS: Record<string, Command> = {
  info: {
    summary: 'architecture, sizes, parameter count, dtype and compute backend of a model',
    args: '[--model DIR] [--json]',
    options: { ...common, ...modelOpt, ...json },
    help: ['--model DIR   a Hugging Face model folder (default: the bundled demo model)', '--json        print one JSON object'],
    async run(v) {
      const m = await HookedModel.load(modelDir(v));
      const i = m.info;
      if (v.json) print(JSON.stringify(i));
      else {
        print(
          [
            `model        ${i.name}  (${i.dir})`,
            `architecture ${i.architecture}: ${i.nLayers} layers, ${i.nHeads} heads${i.nKvHeads !== i.nHeads ? ` (${i.nKvHeads} key/value heads)` : ''}, d_model ${i.dModel}, d_head ${i.dHead}, d_mlp ${i.dMlp}`,
            `vocabulary   ${i.dVocab} tokens, context ${i.nCtx}`,
            `parameters   ${i.paramCount.toLocaleString('en-US')} (stored as ${i.dtypes.join(', ')}; computed in float32)`,
            `BOS token    ${i.bos ? `${JSON.stringify(i.bos.token)} (id ${i.bos.id}, from ${i.bos.from}); put in front of prompts unless --no-bos` : 'none: prompts are not prefixed'}`,
            `backend      ${i.backend}`,
            `kinds        ${i.kinds.join(', ')}`,
          ].join('\n'),
        );
      }
      m.dispose();
    },
  },
  predict: {
    summary: "a prompt's tokens and the model's top next tokens",
    args: '[--model DIR] --prompt TEXT [--top K] [--no-bos] [--json]',
    options: { ...common, ...modelOpt, ...json, prompt: { type: 'string' }, top: { type: 'string' }, 'no-bos': { type: 'boolean' } },
    help: ['--prompt TEXT  the prompt', '--top K       how many next tokens (default 10)', '--no-bos      do not put the BOS token in front'],
    async run(v) {
      if (typeof v.prompt !== 'string') throw badInput('predict needs --prompt TEXT');
      const m = await HookedModel.load(modelDir(v));
      const p = await predictNext(m, v.prompt, { top: int(v, 'top', 10), prependBos: !v['no-bos'] });
      if (v.json) print(JSON.stringify({ tokens: p.tokens, top: p.top }));
      else {
        print(`tokens (${p.tokens.length}): ${p.tokens.map((id, i) => `${JSON.stringify(p.tokenStrings[i])}=${id}`).join(' ')}`);
        print(`backend: ${m.info.backend}\n\n  rank  prob     logit    token`);
        p.top.forEach((t, r) => print(`  ${String(r + 1).padStart(4)}  ${t.prob.toFixed(4)}  ${t.logit.toFixed(3).padStart(8)}  ${JSON.stringify(t.token)} (${t.id})`));
      }
      m.dispose();
    },
  },
  models: {
    summary: 'models found on this machine (bundled, added folders, Hugging Face cache)',
    args: '[--json]',
    options: { ...common, ...json },
    help: ['looks in: the bundled demo model, folders added in the app, $HF_HOME/hub or ~/.cache/huggingface/hub'],
    async run(v) {
      const list = discoverModels();
      if (v.json) print(JSON.stringify(list));
      else if (!list.length) print('no models found');
      else for (const e of list) print(`${e.source.padEnd(9)} ${e.name}  ${e.dir}${e.problem ? `  (${e.problem})` : ''}`);
    },
  },
  pairs: {
    summary: 'generate a prompt-pair dataset from the task library',
    args: '--task ioi|induction|pronoun [--n 64] [--seed 0] [--corruption subject-swap|three-names] [--model DIR] --out FILE.jsonl',
    options: { ...common, ...modelOpt, task: { type: 'string' }, n: { type: 'string' }, seed: { type: 'string' }, corruption: { type: 'string' }, out: { type: 'string' } },
    help: [
      ...Object.entries(TASKS).map(([k, t]) => `${k.padEnd(10)} ${t.title}`),
      'Names and answers are kept only where they are single tokens for the model; where fewer than --n pairs remain, those are written and their count is reported.',
    ],
    async run(v) {
      if (typeof v.task !== 'string') throw badInput(`pairs needs --task (one of ${Object.keys(TASKS).join(', ')})`);
      if (typeof v.out !== 'string') throw badInput('pairs needs --out FILE.jsonl');
      checkOutput(v.out, '--out');
      // Only the tokenizer decides which names and answers are single tokens: no weights needed.
      const set = generatePairSet(v.task, {
        n: int(v, 'n', 64),
        seed: int(v, 'seed', 0),
        tokenizer: await loadTokenizer(modelDir(v)),
        corruption: v.corruption as never,
      });
      writeOutput(v.out, set.pairs.map((p) => JSON.stringify(p)).join('\n') + '\n', '--out');
      if (set.shortfall) process.stderr.write(`${set.shortfall}\n`);
      process.stderr.write(`wrote ${set.pairs.length} ${v.task} pairs to ${v.out}\n`);
    },
  },
  patch: {
    summary: 'attribution and/or activation patching over prompt pairs',
    args:
      '[--model DIR] [--pairs FILE.jsonl] [--direction denoising|noising] [--metric logit-diff|prob-diff|logprob] [--kinds all|k1,k2,…] ' +
      '[--method attribution|activation|both] [--qk-fix] [--graddrop] [--atp-star] [--rank-by RANKING] [--verify-top K] [--recall-k K] ' +
      '[--no-bos] [--threads N] [--batch N] [--out FILE.json] [--csv FILE.csv]',
    options: {
      ...common,
      ...modelOpt,
      pairs: { type: 'string' },
      direction: { type: 'string' },
      metric: { type: 'string' },
      kinds: { type: 'string' },
      method: { type: 'string' },
      'verify-top': { type: 'string' },
      'qk-fix': { type: 'boolean' },
      graddrop: { type: 'boolean' },
      'atp-star': { type: 'boolean' },
      'rank-by': { type: 'string' },
      'recall-k': { type: 'string' },
      'no-bos': { type: 'boolean' },
      threads: { type: 'string' },
      batch: { type: 'string' },
      out: { type: 'string' },
      csv: { type: 'string' },
    },
    help: [
      '--pairs FILE   one JSON object a line: {"clean", "corrupted", "answer", "wrong"} (default: 16 IOI pairs, seed 0)',
      '--direction    denoising (clean into corrupted; default) or noising (corrupted into clean)',
      '--metric       logit-diff (default), prob-diff or logprob; reported raw and normalised (corrupted 0, clean 1)',
      '--kinds        resid_pre,resid_mid,resid_post,attn_out,mlp_out,head_z,head_q,head_k,head_v,head_z_pos,head_pattern,neuron or all',
      '               (all: every kind the model has; `patchbench info` lists them)',
      '--method       attribution (default), activation or both',
      '--qk-fix       AtP* QK fix: head_q/head_k estimates that recompute the attention pattern exactly (attribution_qk)',
      '--graddrop     AtP* GradDrop scores (score_graddrop; L extra backward passes)',
      '--atp-star     both: AtP* (score_atp_star)',
      `--rank-by R    the order --verify-top follows: ${RANKINGS.join(', ')} (default: atp_star, graddrop or attribution, the most complete computed)`,
      '--verify-top K also run activation patching on the first K components per kind in that order',
      `--recall-k K   K of the cost-of-verified-recall curves (with --method both; default ${DEFAULT_RECALL_K})`,
      '--threads N    worker threads (default: one per core for models of 20M parameters or more, else 1)',
      '--batch N      pairs in memory at once (default: planned from the model size and free memory)',
      '--out FILE     results as JSON (without it, the top components are printed)',
    ],
    async run(v) {
      checkOutputs(v);
      const direction = (v.direction ?? 'denoising') as Direction;
      if (direction !== 'denoising' && direction !== 'noising') throw badInput(`--direction must be denoising or noising, got "${direction}"`);
      const method = (v.method ?? 'attribution') as Method;
      if (!['attribution', 'activation', 'both'].includes(method)) throw badInput(`--method must be attribution, activation or both, got "${method}"`);
      const metric = parseMetric(String(v.metric ?? 'logit-diff'));
      parseKinds(v.kinds as string | undefined); // names checked before the model loads
      const verifyTop = v['verify-top'] === undefined ? undefined : int(v, 'verify-top', 0);
      if (verifyTop !== undefined && verifyTop < 1) throw badInput('--verify-top must be a positive integer');
      const recallK = int(v, 'recall-k', DEFAULT_RECALL_K);
      if (recallK < 1) throw badInput('--recall-k must be a positive integer');
      const qkFix = !!v['qk-fix'] || !!v['atp-star'];
      const gradDrop = !!v.graddrop || !!v['atp-star'];
      const rankBy = v['rank-by'] as Ranking | undefined;
      if (rankBy !== undefined && !RANKINGS.includes(rankBy)) throw badInput(`--rank-by must be one of ${RANKINGS.join(', ')}, got "${rankBy}"`);
      const m = await HookedModel.load(modelDir(v));
      const kinds = parseKinds(v.kinds as string | undefined, m.info.kinds);
      let given: { pairs: PromptPair[]; labels?: string[] };
      if (typeof v.pairs === 'string') given = parsePairsJsonl(readText(v.pairs, 'the pairs file'), v.pairs);
      else {
        given = { pairs: generatePairs('ioi', { n: 16, seed: 0, tokenizer: m.tokenizer }) };
        process.stderr.write('no --pairs given: using 16 IOI pairs from the task library (seed 0)\n');
      }
      const tokens = tokenizePairs(m, given.pairs, !v['no-bos'], given.labels);
      // Each extra thread loads its own copy of the model: worth it only when the work is large.
      const threads = v.threads === undefined ? (m.info.paramCount >= 20e6 ? defaultThreads() : 1) : int(v, 'threads', 1);
      if (threads < 1) throw badInput('--threads must be a positive integer');
      const pool = threads > 1 ? await PartPool.start(m, threads) : undefined;
      const bar = progressBar();
      const result = await runPatching(m, tokens, { direction, metric, kinds, method, verifyTop, qkFix, gradDrop, rankBy, recallK }, { onProgress: bar.update, runner: pool?.runner, threads: pool?.threads, batchPairs: batchOption(v) }).finally(() => pool?.dispose());
      bar.done();
      if (typeof v.out === 'string') writeOutput(v.out, JSON.stringify(toJsonReport(result)), '--out');
      if (typeof v.csv === 'string') writeOutput(v.csv, toCsv(result, m.tokenizer), '--csv');
      const norm = `clean ${result.metric.clean.toFixed(4)}, corrupted ${result.metric.corrupted.toFixed(4)}`;
      const wrote = [v.out, v.csv].filter((f) => typeof f === 'string');
      process.stderr.write(`${metric} ${norm}; ${kinds.length} kinds in ${result.seconds.toFixed(2)} s on ${result.backend}${wrote.length ? `; wrote ${wrote.join(', ')}` : ''}\n`);
      if (typeof v.out !== 'string') print(topComponentsTable(result));
      for (const k of result.kinds) {
        const s = k.summary;
        const ver = k.verification;
        if (s && s.n > 1) process.stderr.write(`  ${k.kind.padEnd(13)} n=${s.n} pearson=${s.pearson?.toFixed(3)} spearman=${s.spearman?.toFixed(3)} rmse=${s.rmse?.toExponential(2)}\n`);
        const q = k.summaryQk;
        if (q && q.n > 1) process.stderr.write(`  ${(k.kind + ' QK fix').padEnd(13)} n=${q.n} pearson=${q.pearson?.toFixed(3)} spearman=${q.spearman?.toFixed(3)} rmse=${q.rmse?.toExponential(2)}\n`);
        if (ver) process.stderr.write(`  ${k.kind.padEnd(13)} verified top ${ver.k} by ${ver.ranking}: pearson=${ver.pearson?.toFixed(3)}${ver.recovered !== null ? ` recovered ${ver.recovered}/${ver.k} of the true top ${ver.k}` : ''}\n`);
        if (k.recall) {
          const parts = Object.entries(k.recall).map(([name, c]) => `${name} ${c!.verifications_to_all} (auc ${c!.auc.toFixed(3)})`);
          process.stderr.write(`  ${k.kind.padEnd(13)} verifications to find the true top ${Object.values(k.recall)[0]!.k}: ${parts.join(', ')}\n`);
        }
      }
      m.dispose();
    },
  },
  circuit: {
    summary: 'edge attribution patching (EAP, EAP-IG): edge scores, a circuit and its faithfulness',
    args:
      '[--model DIR] [--pairs FILE.jsonl] [--method eap|eap-ig] [--steps 5] [--top-n 200 | --greedy N] [--curve] ' +
      '[--direction denoising|noising] [--metric logit-diff|prob-diff|logprob] [--no-bos] --out FILE.json [--csv FILE.csv]',
    options: {
      ...common,
      ...modelOpt,
      pairs: { type: 'string' },
      method: { type: 'string' },
      steps: { type: 'string' },
      'top-n': { type: 'string' },
      greedy: { type: 'string' },
      curve: { type: 'boolean' },
      direction: { type: 'string' },
      metric: { type: 'string' },
      'no-bos': { type: 'boolean' },
      out: { type: 'string' },
      csv: { type: 'string' },
    },
    help: [
      '--pairs FILE   one JSON object a line: {"clean", "corrupted", "answer", "wrong"} (default: 16 IOI pairs, seed 0)',
      '--method       eap (default: 2 forward passes, 1 backward) or eap-ig (integrated gradients on the inputs; also reports eap)',
      '--steps M      EAP-IG steps (default 5)',
      '--top-n N      the circuit: top N edges by |score|, then pruned (default 200)',
      '--greedy N     the circuit: grown from the logits by the best edge into it, N edges, then pruned',
      '--curve        faithfulness against the number of edges for each score and random circuits (5 samples, seed 0)',
      '--direction    denoising (default) or noising: where gradients are taken (faithfulness is the same for both)',
      '--metric       logit-diff (default), prob-diff or logprob',
      '--out FILE     JSON: {"edges", "circuit": {"nodes", "edges"}, "faithfulness"} (also opens in the app)',
      '--csv FILE     one row per edge: src, dst, eap, eap_ig, in_circuit',
    ],
    async run(v) {
      if (typeof v.out !== 'string' && typeof v.csv !== 'string') throw badInput('circuit needs --out FILE.json (or --csv FILE.csv)');
      checkOutputs(v);
      const direction = (v.direction ?? 'denoising') as Direction;
      if (direction !== 'denoising' && direction !== 'noising') throw badInput(`--direction must be denoising or noising, got "${direction}"`);
      const method = (v.method ?? 'eap') as CircuitMethod;
      if (method !== 'eap' && method !== 'eap-ig') throw badInput(`--method must be eap or eap-ig, got "${method}"`);
      const metric = parseMetric(String(v.metric ?? 'logit-diff'));
      if (v['top-n'] !== undefined && v.greedy !== undefined) throw badInput('give --top-n N or --greedy N, not both');
      const extraction = v.greedy !== undefined ? 'greedy' : 'top-n';
      const n = extraction === 'greedy' ? int(v, 'greedy', 0) : int(v, 'top-n', 200);
      if (n < 0) throw badInput(`--${extraction} must be a non-negative integer, got ${n}`);
      const steps = int(v, 'steps', 5);
      if (steps < 1 || steps > 100) throw badInput(`--steps must be an integer from 1 to 100, got ${steps}`);
      const m = await HookedModel.load(modelDir(v));
      let given: { pairs: PromptPair[]; labels?: string[] };
      if (typeof v.pairs === 'string') given = parsePairsJsonl(readText(v.pairs, 'the pairs file'), v.pairs);
      else {
        given = { pairs: generatePairs('ioi', { n: 16, seed: 0, tokenizer: m.tokenizer }) };
        process.stderr.write('no --pairs given: using 16 IOI pairs from the task library (seed 0)\n');
      }
      const tokens = tokenizePairs(m, given.pairs, !v['no-bos'], given.labels);
      const bar = progressBar();
      const r = await runCircuit(m, tokens, { direction, metric, method, steps, extraction, n, curve: !!v.curve }, { onProgress: bar.update });
      bar.done();
      if (typeof v.out === 'string') writeOutput(v.out, JSON.stringify(toCircuitJson(r)), '--out');
      if (typeof v.csv === 'string') writeOutput(v.csv, toCircuitCsv(r), '--csv');
      const own = r.faithfulness.find((p) => p.ranking === r.ranking && p.n === Math.min(n, r.graph.src.length))!;
      const kept = r.circuit.reduce((a, b) => a + b, 0);
      const wrote = [v.out, v.csv].filter((f) => typeof f === 'string').join(', ');
      process.stderr.write(
        `${r.graph.src.length} edges scored by ${method}${method === 'eap-ig' ? ` (${steps} steps)` : ''}; circuit: ${extraction} ${n} → ${kept} edges after pruning, ` +
          `faithfulness ${own.faithfulness.toFixed(4)} (${metric} clean ${r.metric.clean.toFixed(4)}, corrupted ${r.metric.corrupted.toFixed(4)}); ` +
          `${r.seconds.toFixed(2)} s on ${r.backend}; wrote ${wrote}\n`,
      );
      m.dispose();
    },
  },
  run: {
    summary: 'recompute a project file (*.patchbench) with its model, pairs and settings',
    args: 'FILE.patchbench [--model DIR] [--threads N] [--batch N] [--out FILE.json] [--csv FILE.csv] [--save]',
    options: { ...common, ...modelOpt, threads: { type: 'string' }, batch: { type: 'string' }, out: { type: 'string' }, csv: { type: 'string' }, save: { type: 'boolean' } },
    positional: true,
    help: [
      '--out FILE     results as JSON, in the schema of `patchbench patch --out`',
      '--csv FILE     results as CSV, one row per component',
      '--save         store the new results (and model fingerprint) in the project file, atomically',
      '--model DIR    use this model folder instead of the one the project names (it is still fingerprinted)',
      '--threads N    worker threads (as for patch)',
      '--batch N      pairs in memory at once (as for patch)',
      'A missing model is an error; a changed one (fingerprint differs) is used with a warning.',
    ],
    async run(v, positionals) {
      if (positionals.length !== 1) throw badInput(`run needs one FILE.patchbench${positionals.length ? `, got ${positionals.length} files` : ''}`);
      if (!v.out && !v.csv && !v.save) throw badInput('run needs --out FILE.json, --csv FILE.csv or --save (otherwise the results go nowhere)');
      const file = positionals[0];
      checkOutputs(v);
      // A read-only project is refused now, not after the job.
      if (v.save) checkNotReadOnly(file);
      const warn = (s: string) => process.stderr.write(`patchbench: warning: ${s}\n`);
      const { project, warnings } = loadProjectInfo(file);
      for (const w of warnings) warn(`${file}: ${w}`);
      const check = await checkModel(project, typeof v.model === 'string' ? v.model : undefined);
      if (check.status === 'missing') throw badModel(`${file}: ${check.message}${typeof v.model === 'string' ? '' : '; pass --model DIR to use a copy elsewhere'}`);
      if (check.status !== 'ok') warn(`${check.message}; recomputing with it anyway`);
      const m = await HookedModel.load(check.dir);
      const tokens = tokenizePairs(m, project.pairs, project.settings.prependBos, project.pairs.map((_, i) => `${file}: pairs[${i}]`));
      if (project.results && JSON.stringify(project.results.tokens) !== JSON.stringify(tokens)) {
        warn('the pairs tokenize differently from when the project was saved (a different tokenizer?)');
      }
      const threads = v.threads === undefined ? (m.info.paramCount >= 20e6 ? defaultThreads() : 1) : int(v, 'threads', 1);
      if (threads < 1) throw badInput('--threads must be a positive integer');
      const pool = threads > 1 ? await PartPool.start(m, threads) : undefined;
      const bar = progressBar();
      const result = await runPatching(m, tokens, requestFromSettings(project.settings), { onProgress: bar.update, runner: pool?.runner, threads: pool?.threads, batchPairs: batchOption(v) }).finally(() => pool?.dispose());
      bar.done();
      if (typeof v.out === 'string') writeOutput(v.out, JSON.stringify(toJsonReport(result)), '--out');
      if (typeof v.csv === 'string') writeOutput(v.csv, toCsv(result, m.tokenizer), '--csv');
      if (v.save) {
        const saved = projectFromResult(result, { pairs: project.pairs, settings: project.settings, model: check.found!, view: project.view });
        // A stored circuit is recomputed with its own settings, so the file never pairs new results with old edges.
        if (project.circuit) saved.circuit = circuitFromResult(await runCircuit(m, tokens, project.circuit.request));
        saveProject(file, saved);
      }
      const wrote = [v.out, v.csv, v.save ? file : undefined].filter((x) => typeof x === 'string').join(', ');
      process.stderr.write(`${project.settings.metric} clean ${result.metric.clean.toFixed(4)}, corrupted ${result.metric.corrupted.toFixed(4)}; ${result.kinds.length} kinds in ${result.seconds.toFixed(2)} s on ${result.backend}; wrote ${wrote}\n`);
      if (project.results) {
        // How closely the rerun reproduces the saved results.
        let attr = 0, act = 0;
        result.kinds.forEach((k, i) => {
          const old = project.results!.kinds[i];
          const diff = (a?: Float32Array, b?: Float32Array) => {
            let d = 0;
            if (a && b && a.length === b.length) for (let j = 0; j < a.length; j++) if (Number.isFinite(a[j]) && Number.isFinite(b[j])) d = Math.max(d, Math.abs(a[j] - b[j]));
            return d;
          };
          attr = Math.max(attr, diff(k.attribution, old.attribution));
          act = Math.max(act, diff(k.activation, old.activation));
        });
        process.stderr.write(`  against the saved results: max |difference| ${attr.toExponential(2)} (attribution), ${act.toExponential(2)} (activation)\n`);
      }
      m.dispose();
    },
  },
};

export function usage(name?: string): string {
  if (name && COMMANDS[name]) {
    const c = COMMANDS[name];
    return `patchbench ${name} ${c.args}\n\n${c.summary}\n\n${c.help.map((h) => '  ' + h).join('\n')}\n`;
  }
  return (
    'patchbench COMMAND [options]\n\n' +
    Object.entries(COMMANDS)
      .map(([k, c]) => `  ${k.padEnd(9)} ${c.summary}`)
      .join('\n') +
    '\n\nRun `patchbench COMMAND --help` for its options. PATCHBENCH_BACKEND=webgpu|node-gpu|node|wasm|cpu forces a compute backend.\n'
  );
}
