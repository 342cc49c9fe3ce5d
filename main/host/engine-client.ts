/**
 * The host's side of the engine worker: calls by id, progress, cancellation, and recovery. When
 * the worker dies (a native crash, out of memory, process.exit in a dependency) every pending call
 * fails with 'engine-crashed', a new worker starts, and the model that was loaded is loaded again,
 * so the user's pairs, settings and earlier results (which live in the UI) are untouched.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { ErrorInfo } from '../../shared/contract.ts';
import { HostError } from './errors.ts';
import type { FromWorker, Method, ToWorker, WorkerMethods } from './protocol.ts';

export interface EngineStatus {
  state: 'starting' | 'ready' | 'crashed';
  backend: string | null;
  message?: string;
}

export interface CallHandle<T> {
  id: number;
  result: Promise<T>;
}

interface Pending {
  method: Method;
  resolve: (v: unknown) => void;
  reject: (e: HostError) => void;
  onProgress?: (p: { phase: string; done: number; total: number }) => void;
}

export interface EngineClientOptions {
  /** the worker script; defaults to engine-worker.ts (from source, through tsx) or .js (built) */
  workerUrl?: URL;
  /** how long a cancelled call may take to stop before the worker is terminated and restarted */
  cancelGraceMs?: number;
  /** give up restarting after this many crashes within `crashWindowMs` */
  maxCrashes?: number;
  crashWindowMs?: number;
}

function defaultWorkerUrl(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  return new URL(fromSource ? './engine-worker.ts' : './engine-worker.js', import.meta.url);
}

export class EngineClient extends EventEmitter<{ status: [EngineStatus] }> {
  private worker: Worker | undefined;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private readyPromise: Promise<string> | undefined;
  private stopping = false;
  private crashes: number[] = [];
  private lastModelDir: string | undefined;
  private cancelTimers = new Map<number, NodeJS.Timeout>();
  status: EngineStatus = { state: 'starting', backend: null };
  private readonly opts: Required<EngineClientOptions>;

  constructor(opts: EngineClientOptions = {}) {
    super();
    this.opts = { workerUrl: opts.workerUrl ?? defaultWorkerUrl(), cancelGraceMs: opts.cancelGraceMs ?? 3000, maxCrashes: opts.maxCrashes ?? 3, crashWindowMs: opts.crashWindowMs ?? 60_000 };
  }

  /** Starts the worker (once) and resolves with the backend name when it is ready. */
  start(): Promise<string> {
    this.readyPromise ??= this.spawn();
    return this.readyPromise;
  }

  private setStatus(s: EngineStatus) {
    this.status = s;
    this.emit('status', s);
  }

  private spawn(): Promise<string> {
    const url = this.opts.workerUrl;
    // A .ts worker (running from source) must register tsx inside the worker before importing it:
    // Node 20 workers do not apply loader hooks given through --import to their entry module.
    const w = url.pathname.endsWith('.ts')
      ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`, { eval: true })
      : new Worker(url);
    this.worker = w;
    this.setStatus({ state: 'starting', backend: null });
    return new Promise<string>((resolve, reject) => {
      let started = false;
      w.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          started = true;
          this.setStatus({ state: 'ready', backend: m.backend });
          resolve(m.backend);
        } else if (m.type === 'startFailed') {
          reject(new HostError(m.error.code, m.error.message));
        } else this.onMessage(m);
      });
      w.on('error', (e) => {
        // An uncaught exception in the worker: it exits next, and 'exit' does the recovery.
        if (!started) reject(new HostError('engine-crashed', `the engine could not start: ${e.message}`));
      });
      w.on('exit', (code) => {
        if (this.worker !== w) return; // a worker we replaced on purpose
        this.worker = undefined;
        if (!started) reject(new HostError('engine-crashed', `the engine could not start (it exited with code ${code})`));
        if (!this.stopping) this.onCrash(code);
      });
    });
  }

  private onMessage(m: FromWorker) {
    if (m.type === 'progress') {
      this.pending.get(m.id)?.onProgress?.({ phase: m.phase, done: m.done, total: m.total });
      return;
    }
    if (m.type !== 'reply') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.settle(m.id);
    // The engine's backend failed (out of memory, an abort): replace the engine before the caller
    // hears of it, so whatever it asks next waits for a fresh engine with the model reloaded.
    if (!m.ok && m.error.code === 'engine-crashed') this.replaceAfterFailure(m.error.message);
    if (m.ok) p.resolve(m.value);
    else p.reject(new HostError(m.error.code, m.error.message));
  }

  private replaceAfterFailure(why: string) {
    const w = this.worker;
    this.worker = undefined;
    this.failAll({ code: 'engine-crashed', message: 'The engine was restarted after another request failed; run this again.' });
    void w?.terminate();
    this.setStatus({ state: 'crashed', backend: null, message: `${why}.` });
    this.restart();
  }

  private settle(id: number) {
    this.pending.delete(id);
    clearTimeout(this.cancelTimers.get(id));
    this.cancelTimers.delete(id);
  }

  private failAll(error: ErrorInfo | ((p: Pending, id: number) => ErrorInfo)) {
    for (const [id, p] of [...this.pending]) {
      this.settle(id);
      const e = typeof error === 'function' ? error(p, id) : error;
      p.reject(new HostError(e.code, e.message));
    }
  }

  private onCrash(code: number) {
    const now = Date.now();
    this.crashes = [...this.crashes.filter((t) => now - t < this.opts.crashWindowMs), now];
    const message = `The engine stopped unexpectedly (exit code ${code}).`;
    this.failAll({ code: 'engine-crashed', message: `${message} It is being restarted; your pairs and settings are kept. Run the job again.` });
    if (this.crashes.length > this.opts.maxCrashes) {
      this.readyPromise = Promise.reject(new HostError('engine-crashed', `${message} It crashed ${this.crashes.length} times in a row, so it was not restarted; restart the app.`));
      this.readyPromise.catch(() => {});
      this.setStatus({ state: 'crashed', backend: null, message: `${message} It keeps crashing and was not restarted; restart the app.` });
      return;
    }
    this.setStatus({ state: 'crashed', backend: null, message: `${message} Restarting it…` });
    this.restart();
  }

  /** A new worker, with the model that was loaded loaded again. */
  private restart() {
    const spawned = this.spawn();
    this.readyPromise = spawned.then(async (backend) => {
      if (this.lastModelDir) {
        try {
          // Sent as soon as the worker is up, not through start(), which waits for this very reload.
          await this.call('load', { dir: this.lastModelDir }, undefined, spawned).result;
        } catch {
          // The folder may have become unreadable; the UI sees no model and says so.
          this.lastModelDir = undefined;
        }
      }
      return backend;
    });
    this.readyPromise.catch(() => {});
  }

  /** Calls an engine method. The result rejects with a HostError carrying the error code. */
  call<M extends Method>(
    method: M,
    params: WorkerMethods[M]['params'],
    onProgress?: (p: { phase: string; done: number; total: number }) => void,
    ready: Promise<string> = this.start(),
  ): CallHandle<WorkerMethods[M]['result']> {
    const id = this.nextId++;
    const result = new Promise<WorkerMethods[M]['result']>((resolve, reject) => {
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, onProgress });
      ready.then(
        () => {
          if (!this.pending.has(id)) return; // cancelled or failed while the engine was starting
          if (!this.worker) return reject(new HostError('engine-crashed', 'the engine is not running'));
          this.worker.postMessage({ type: 'call', id, method, params } satisfies ToWorker);
        },
        (e: HostError) => {
          this.settle(id);
          reject(e);
        },
      );
    });
    if (method === 'load') {
      const dir = (params as { dir: string }).dir;
      result.then(() => (this.lastModelDir = dir), () => {});
    }
    return { id, result };
  }

  /**
   * Asks the engine to stop a call. The engine checks its AbortSignal between batches; should it
   * not answer within the grace period, the worker is terminated and restarted (the model reloaded)
   * so that Cancel always works.
   */
  cancel(id: number): void {
    if (!this.pending.has(id) || this.cancelTimers.has(id)) return;
    this.worker?.postMessage({ type: 'cancel', id } satisfies ToWorker);
    this.cancelTimers.set(
      id,
      setTimeout(() => {
        if (!this.pending.has(id) || !this.worker) return;
        const w = this.worker;
        this.worker = undefined;
        this.failAll((_p, pid) => (pid === id ? { code: 'cancelled', message: 'cancelled' } : { code: 'engine-crashed', message: 'The engine was restarted to stop a cancelled job; run this again.' }));
        void w.terminate();
        this.restart();
      }, this.opts.cancelGraceMs),
    );
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.failAll({ code: 'cancelled', message: 'the app is closing' });
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }
}
