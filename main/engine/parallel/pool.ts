/**
 * Patching on several cores. tfjs's wasm backend runs one thread per instance, so the work is split
 * by pairs: this thread computes one share and each worker thread (own backend, own copy of the
 * weights) another; parts combine by a pair-weighted mean (patching/part.ts). Memory grows by one
 * copy of the model per worker.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { backendName, splitsOverThreads } from '../backend.ts';
import { PatchbenchError } from '../errors.ts';
import type { HookedModel } from '../model.ts';
import { combineParts, runPart, type PartOptions, type PartProgress, type PartRequest, type PartResult, type PartRunner } from '../patching/part.ts';
import type { TokenizedPairs } from '../patching/runs.ts';
import type { WorkerMessage, WorkerReply } from './protocol.ts';

/** Threads to use: one on the GPU (see splitsOverThreads), else PATCHBENCH_THREADS, else one per core (at most 4). */
export function defaultThreads(): number {
  if (!splitsOverThreads()) return 1;
  const env = Number(process.env.PATCHBENCH_THREADS);
  return Number.isInteger(env) && env >= 1 ? env : Math.min(4, availableParallelism());
}

interface Pending {
  resolve(r: PartResult): void;
  reject(e: Error): void;
  onProgress?(p: PartProgress): void;
}

class PartWorker {
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private dead?: Error;
  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'ready') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'progress') p.onProgress?.(m.progress);
      else {
        this.pending.delete(m.id);
        if (m.type === 'result') p.resolve(m.result);
        else p.reject(new PatchbenchError(m.code, m.message));
      }
    });
    const fail = (e: Error) => {
      this.dead = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(new PatchbenchError('internal', `engine worker failed: ${e.message}`)));
    worker.on('exit', (code) => fail(new PatchbenchError('internal', `engine worker exited (code ${code})`)));
  }

  static start(dir: string): Promise<PartWorker> {
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: { dir, backend: backendName() } });
    return new Promise((resolve, reject) => {
      const onMessage = (m: WorkerReply) => {
        if (m.type === 'ready') resolve(new PartWorker(worker));
        else if (m.type === 'error') reject(new PatchbenchError(m.code, m.message));
        if (m.type === 'ready' || m.type === 'error') worker.off('message', onMessage);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  }

  run(pairs: TokenizedPairs, req: PartRequest, o: PartOptions): Promise<PartResult> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    const cancel = () => this.worker.postMessage({ type: 'cancel', id } satisfies WorkerMessage);
    o.signal?.addEventListener('abort', cancel, { once: true });
    return new Promise<PartResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress: o.onProgress });
      this.worker.postMessage({ type: 'part', id, pairs, req } satisfies WorkerMessage);
    }).finally(() => o.signal?.removeEventListener('abort', cancel));
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/** Splits pairs into n contiguous, nearly equal shares. */
function split(pairs: TokenizedPairs, n: number): TokenizedPairs[] {
  const B = pairs.clean.length;
  return Array.from({ length: n }, (_, i) => {
    const [a, b] = [Math.floor((i * B) / n), Math.floor(((i + 1) * B) / n)];
    return { clean: pairs.clean.slice(a, b), corrupted: pairs.corrupted.slice(a, b), answer: pairs.answer.slice(a, b), wrong: pairs.wrong.slice(a, b) };
  });
}

export class PartPool {
  private constructor(
    private readonly local: HookedModel,
    private readonly workers: PartWorker[],
  ) {}

  /** This thread plus threads − 1 workers, each loading the model in `local.info.dir` (this thread alone on the GPU). */
  static async start(local: HookedModel, threads = defaultThreads()): Promise<PartPool> {
    if (!splitsOverThreads()) threads = 1;
    const workers = await Promise.all(Array.from({ length: Math.max(0, threads - 1) }, () => PartWorker.start(local.info.dir)));
    return new PartPool(local, workers);
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  readonly runner: PartRunner = async (pairs, req, o) => {
    const shares = split(pairs, Math.min(this.threads, pairs.clean.length));
    // One failing share stops the others.
    const ac = new AbortController();
    const stop = () => ac.abort();
    o.signal?.addEventListener('abort', stop, { once: true });
    const progress: PartProgress[] = shares.map(() => ({ phase: 'starting', done: 0, total: 1 }));
    const report = (i: number) => (p: PartProgress) => {
      progress[i] = p;
      o.onProgress?.({ phase: progress[0].phase, done: progress.reduce((s, q) => s + q.done, 0), total: progress.reduce((s, q) => s + q.total, 0) });
    };
    try {
      const started = (run: Promise<PartResult>) =>
        run.catch((e) => {
          ac.abort();
          throw e;
        });
      // Workers first: this thread's share computes synchronously for long stretches, and a share
      // posted after it would wait for them.
      const remote = shares.slice(1).map((share, i) => started(this.workers[i].run(share, req, { signal: ac.signal, onProgress: report(i + 1) })));
      const local = started(runPart(this.local, shares[0], req, { signal: ac.signal, onProgress: report(0) }));
      const parts = await Promise.all([local, ...remote]);
      return combineParts(parts);
    } finally {
      o.signal?.removeEventListener('abort', stop);
    }
  };

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
