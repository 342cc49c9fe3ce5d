/**
 * The engine's thread. Everything that touches TensorFlow.js runs here, so the Electron main
 * process (and the browser host's event loop) stays responsive while a model loads or a patching
 * job runs. It holds at most one current model; a model replaced while a job still uses it is
 * disposed when that job ends.
 */
import { parentPort } from 'node:worker_threads';
import { backendLabel, initBackend, releaseJobMemory } from '../engine/backend.ts';
import { firstLine, isEngineFailure, PatchbenchError } from '../engine/errors.ts';
import { METRICS } from '../engine/metrics.ts';
import { meanMetricOf } from './baseline.ts';
import { HookedModel } from '../engine/model.ts';
import { defaultThreads, PartPool } from '../engine/parallel/pool.ts';
import { runPatching } from '../engine/patching/index.ts';
import { runCircuit } from '../engine/circuits/index.ts';
import { circuitFromResult } from '../engine/project/circuit.ts';
import { circuitToWire } from './circuits.ts';
import { KIND_SPECS, KINDS } from '../engine/patching/components.ts';
import { parsePairsJsonl, tokenizePairs } from '../engine/patching/pairs.ts';
import type { TokenizedPairs } from '../engine/patching/runs.ts';
import { predictNext } from '../engine/predict.ts';
import { generatePairSet, TASKS, type TaskName } from '../engine/tasks/index.ts';
import type { ErrorInfo, PairTokens, PromptPair } from '../../shared/contract.ts';
import { toWire } from './result-wire.ts';
import type { FromWorker, Method, ToWorker, WorkerMethods } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('engine-worker.ts must run in a worker thread');
const send = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

let current: HookedModel | undefined;
/** jobs using each model, so a replaced model is disposed only once nothing uses it */
const users = new Map<HookedModel, number>();
const retired = new Set<HookedModel>();
const controllers = new Map<number, AbortController>();

function need(): HookedModel {
  if (!current) throw Object.assign(new PatchbenchError('bad-input', 'no model is loaded; open a model first'), { hostCode: 'no-model' });
  return current;
}

/**
 * Models from this size on patch on several threads (each thread its own copy of the weights);
 * PATCHBENCH_POOL_MIN_PARAMS changes it (tests use 0 to run the pool on a tiny model).
 */
const POOL_MIN_PARAMS = Number(process.env.PATCHBENCH_POOL_MIN_PARAMS ?? '') >= 0 && process.env.PATCHBENCH_POOL_MIN_PARAMS ? Number(process.env.PATCHBENCH_POOL_MIN_PARAMS) : 20_000_000;
const pools = new Map<HookedModel, Promise<PartPool>>();

/** The multi-thread runner for a large model (started on first use), or undefined for small ones. */
async function runnerFor(m: HookedModel) {
  const threads = defaultThreads();
  if (m.info.paramCount < POOL_MIN_PARAMS || threads <= 1) return undefined;
  let p = pools.get(m);
  if (!p) {
    p = PartPool.start(m, threads);
    pools.set(m, p);
    p.catch(() => pools.delete(m));
  }
  return (await p).runner;
}

async function threadsFor(m: HookedModel): Promise<number> {
  const p = pools.get(m);
  return p ? (await p).threads : 1;
}

/** Frees a model that nothing uses any more, and its worker threads. */
function disposeModel(m: HookedModel) {
  const p = pools.get(m);
  pools.delete(m);
  p?.then((pool) => pool.dispose()).catch(() => {});
  m.dispose();
}

/**
 * A job on the current model and `pairs`: cancellable by its request id, reporting progress, and
 * holding the model (a model replaced meanwhile is disposed when the job ends).
 */
async function job<T>(
  id: number,
  pairs: PromptPair[],
  prependBos: boolean | undefined,
  run: (m: HookedModel, t: TokenizedPairs, o: { signal: AbortSignal; onProgress: (p: { phase: string; done: number; total: number }) => void }) => Promise<T>,
): Promise<T> {
  const m = need();
  const ac = new AbortController();
  controllers.set(id, ac);
  users.set(m, (users.get(m) ?? 0) + 1);
  try {
    const t = tokenizePairs(m, pairs, prependBos ?? true);
    return await run(m, t, { signal: ac.signal, onProgress: (p) => send({ type: 'progress', id, phase: p.phase, done: p.done, total: p.total }) });
  } finally {
    controllers.delete(id);
    release(m);
  }
}

function release(m: HookedModel) {
  const n = (users.get(m) ?? 1) - 1;
  if (n > 0) users.set(m, n);
  else {
    users.delete(m);
    if (retired.delete(m)) disposeModel(m);
  }
}

const tokenized = (m: HookedModel, ids: number[]) => ({ ids, strings: ids.map((id) => m.tokenizer.tokenString(id)) });

/** Tokens of every field of a pair, and the engine's own sentence for what makes it unusable. */
function pairTokens(m: HookedModel, p: PromptPair, i: number, prependBos: boolean): PairTokens {
  const bos = prependBos && m.bos ? [m.bos.id] : [];
  // Text the tokenizer cannot spell shows no tokens; `problem` below says which character it is.
  const ids = (encode: () => number[]) => {
    try {
      return encode();
    } catch {
      return [];
    }
  };
  const out: PairTokens = {
    clean: tokenized(m, [...bos, ...ids(() => m.tokenizer.encode(p.clean))]),
    corrupted: tokenized(m, [...bos, ...ids(() => m.tokenizer.encode(p.corrupted))]),
    answer: tokenized(m, ids(() => m.tokenizer.encodeContinuation(p.answer))),
    wrong: tokenized(m, ids(() => m.tokenizer.encodeContinuation(p.wrong))),
  };
  try {
    tokenizePairs(m, [p], prependBos, [`pair ${i + 1}`]);
  } catch (e) {
    out.problem = (e as Error).message;
  }
  return out;
}

const methods: { [M in Method]: (params: WorkerMethods[M]['params'], id: number) => Promise<WorkerMethods[M]['result']> } = {
  async catalog() {
    return {
      kinds: KINDS.map((name) => ({ name, what: KIND_SPECS[name].what, dims: ['layer', ...KIND_SPECS[name].dims] })),
      metrics: (Object.keys(METRICS) as (keyof typeof METRICS)[]).map((name) => ({ name, explanation: METRICS[name] })),
      tasks: (Object.keys(TASKS) as TaskName[]).map((name) => ({ name, ...TASKS[name] })),
    };
  },

  async load({ dir }) {
    const m = await HookedModel.load(dir);
    const old = current;
    current = m;
    if (old) {
      if (users.has(old)) retired.add(old);
      else disposeModel(old);
    }
    return { ...m.info, dtypes: [...m.info.dtypes] };
  },

  async current() {
    return current ? { ...current.info, dtypes: [...current.info.dtypes] } : null;
  },

  async predict({ prompt, top, prependBos }) {
    const p = await predictNext(need(), prompt, { top: top ?? 10, prependBos: prependBos ?? true });
    return { tokens: { ids: p.tokens, strings: p.tokenStrings }, top: p.top };
  },

  async generate({ task, n, seed, corruption }) {
    const m = need();
    // one token length for the whole set (the task library's default), so the set patches as one
    // batch; where the tokenizer leaves fewer pairs the app gets those and reports their count
    return generatePairSet(task, { n, seed, tokenizer: m.tokenizer, ...(corruption ? { corruption } : {}) }).pairs;
  },

  async tokenize({ pairs, prependBos }) {
    const m = need();
    const bos = prependBos ?? true;
    const out = pairs.map((p, i) => pairTokens(m, p, i, bos));
    let problem: string | undefined = out.find((p) => p.problem)?.problem;
    if (!problem && pairs.length > 1) {
      try {
        tokenizePairs(m, pairs, bos);
      } catch (e) {
        problem = (e as Error).message;
      }
    }
    return problem ? { pairs: out, problem } : { pairs: out };
  },

  async baseline({ pairs, metric, prependBos }) {
    const m = need();
    const t = tokenizePairs(m, pairs, prependBos ?? true);
    return { clean: await meanMetricOf(m, metric, t.clean, t), corrupted: await meanMetricOf(m, metric, t.corrupted, t) };
  },

  async parseJsonl({ text, source }) {
    return parsePairsJsonl(text, source).pairs;
  },

  patch: ({ pairs, prependBos, request }, id) =>
    job(id, pairs, prependBos, async (m, t, o) => {
      const runner = await runnerFor(m);
      const r = await runPatching(m, t, request, { ...o, runner, threads: await threadsFor(m) });
      return { ...toWire(r, m.tokenizer), threads: runner ? await threadsFor(m) : 1 };
    }),

  circuit: ({ pairs, prependBos, request }, id) =>
    job(id, pairs, prependBos, async (m, t, o) => {
      // The wire form of a fresh result is that of a project's circuit: request, metric, provenance.
      return circuitToWire(circuitFromResult(await runCircuit(m, t, request, o)));
    }),

  async tokenStrings({ ids }) {
    const m = need();
    return ids.map((row) => row.map((id) => m.tokenizer.tokenString(id)));
  },

  async crash(p) {
    if ('exitCode' in p) process.exit(p.exitCode);
    // What tfjs-wasm throws when its heap is exhausted or corrupted.
    throw new (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } }).WebAssembly.RuntimeError('memory access out of bounds');
  },
};

function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof PatchbenchError) {
    const hostCode = (e as { hostCode?: 'no-model' }).hostCode;
    return { code: hostCode ?? e.code, message: e.message };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'internal', message: `the engine failed unexpectedly: ${message}` };
}

/** Float32Array buffers (a patching result's columns, a circuit's edge arrays) move to the main thread instead of being copied. */
function transferables(value: unknown): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  const add = (a: unknown) => {
    if (a instanceof Float32Array && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !out.includes(a.buffer as ArrayBuffer)) out.push(a.buffer as ArrayBuffer);
  };
  const v = value as { kinds?: { attribution?: Float32Array; activation?: Float32Array }[]; eap?: unknown; eapIg?: unknown; circuit?: unknown } | null;
  if (Array.isArray(v?.kinds)) for (const k of v.kinds) [k.attribution, k.activation].forEach(add);
  if (v && 'eap' in v) [v.eap, v.eapIg, v.circuit].forEach(add);
  return out;
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'cancel') {
    controllers.get(msg.id)?.abort();
    return;
  }
  const fn = methods[msg.method] as (p: unknown, id: number) => Promise<unknown>;
  if (!fn) {
    send({ type: 'reply', id: msg.id, ok: false, error: { code: 'internal', message: `unknown engine method ${msg.method}` } });
    return;
  }
  // Whatever the job, the GPU's memory for its intermediates goes back when it ends (see backend.ts).
  fn(msg.params, msg.id).finally(releaseJobMemory).then(
    (value) => send({ type: 'reply', id: msg.id, ok: true, value }, transferables(value)),
    (e) => {
      if (!isEngineFailure(e)) return send({ type: 'reply', id: msg.id, ok: false, error: errorInfo(e) });
      // The backend's heap cannot be trusted any more: answer in words with 'engine-crashed', on
      // which the host replaces this engine and reloads the model before the next request.
      const message = `${e instanceof PatchbenchError ? e.message : `the engine failed (${firstLine(e)})`}. The engine is being restarted and the model reloaded`;
      send({ type: 'reply', id: msg.id, ok: false, error: { code: 'engine-crashed', message } });
    },
  );
});

initBackend().then(
  () => send({ type: 'ready', backend: backendLabel() }),
  (e) => send({ type: 'startFailed', error: errorInfo(e) }),
);
