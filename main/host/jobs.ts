/**
 * Long jobs by id. A job is queued, then running, then succeeded, failed or cancelled; one runs at
 * a time because the engine is one thread, whatever its kind (patching or circuit). Progress is
 * throttled (the engine may report thousands of steps a second, and each report crosses IPC), but
 * every change of state is reported at once. A finished job's outcome goes out once, in the 'done'
 * event; the list keeps a line about the last few finished ones (no results), so a page opened
 * later can still show how they ended.
 */
import { EventEmitter } from 'node:events';
import type { ErrorInfo, JobInfo, JobKind, JobState } from '../../shared/contract.ts';
import { HostError } from './errors.ts';
import { PatchbenchError } from '../engine/errors.ts';

export interface Progress {
  phase: string;
  done: number;
  total: number;
}

/** How a job's work is done: started with a progress callback, stoppable. */
export type JobRunner<P, R> = (params: P, onProgress: (p: Progress) => void) => { result: Promise<R>; cancel: () => void };

export interface JobDone<R> {
  jobId: string;
  state: 'succeeded' | 'failed' | 'cancelled';
  elapsed: number;
  result?: R;
  error?: ErrorInfo;
}

/** What the job list says about a job. */
export interface JobDescription {
  kind: JobKind;
  label: string;
}

/** How many finished jobs the list keeps. */
export const FINISHED_KEPT = 5;

interface Job<P> {
  id: string;
  params: P;
  description: JobDescription;
  error?: ErrorInfo;
  state: JobState;
  progress: Progress;
  startedAt?: number;
  lastSent: number;
  pendingSend?: NodeJS.Timeout;
  cancel?: () => void;
}

export class JobManager<P, R> extends EventEmitter<{ progress: [JobInfo]; done: [JobDone<R>] }> {
  private jobs = new Map<string, Job<P>>();
  private queue: Job<P>[] = [];
  private running: Job<P> | undefined;
  private finished: JobInfo[] = [];
  private counter = 0;

  constructor(
    private readonly runner: JobRunner<P, R>,
    private readonly o: { throttleMs?: number; now?: () => number; describe?: (params: P) => JobDescription } = {},
  ) {
    super();
  }

  private now() {
    return this.o.now?.() ?? performance.now();
  }

  /**
   * Queues a job. The same request while an identical one is queued or running is refused: a
   * double click is one intent, and a second job would only queue behind the first.
   */
  start(params: P): string {
    const key = JSON.stringify(params);
    const same = [...this.jobs.values()].find((j) => JSON.stringify(j.params) === key);
    if (same) throw new HostError('bad-input', `the same job is already ${same.state} (${same.id}); cancel it first to start it again`);
    const id = `job-${++this.counter}`;
    const description = this.o.describe?.(params) ?? { kind: 'patching', label: 'job' };
    const job: Job<P> = { id, params, description, state: 'queued', progress: { phase: 'queued', done: 0, total: 0 }, lastSent: -Infinity };
    this.jobs.set(id, job);
    this.queue.push(job);
    this.send(job, true);
    this.pump();
    return id;
  }

  /** Cancels a queued job at once, asks a running one to stop; returns the state after the request. */
  cancel(jobId: string): JobState {
    const job = this.jobs.get(jobId);
    if (!job) throw new HostError('bad-input', `there is no active job ${jobId} (it may have finished already)`);
    if (job.state === 'queued') {
      this.queue = this.queue.filter((j) => j !== job);
      this.finish(job, { state: 'cancelled', error: { code: 'cancelled', message: 'cancelled before it started' } });
      return 'cancelled';
    }
    job.cancel?.();
    return job.state;
  }

  /** Jobs that are queued or running, then the last few finished (oldest first). */
  list(): JobInfo[] {
    return [...[...this.jobs.values()].map((j) => this.info(j)), ...this.finished];
  }

  private info(j: Job<P>): JobInfo {
    return {
      jobId: j.id,
      ...j.description,
      state: j.state,
      phase: j.progress.phase,
      done: j.progress.done,
      total: j.progress.total,
      elapsed: j.startedAt === undefined ? 0 : (this.now() - j.startedAt) / 1000,
      ...(j.error ? { error: j.error } : {}),
    };
  }

  private send(job: Job<P>, force: boolean) {
    const throttle = this.o.throttleMs ?? 100;
    const t = this.now();
    if (force || t - job.lastSent >= throttle) {
      clearTimeout(job.pendingSend);
      job.pendingSend = undefined;
      job.lastSent = t;
      this.emit('progress', this.info(job));
    } else if (!job.pendingSend) {
      // Trailing report, so the last step before a pause is never lost.
      job.pendingSend = setTimeout(() => {
        job.pendingSend = undefined;
        if (this.jobs.has(job.id)) this.send(job, true);
      }, throttle - (t - job.lastSent));
    }
  }

  private pump() {
    if (this.running || this.queue.length === 0) return;
    const job = this.queue.shift()!;
    this.running = job;
    job.state = 'running';
    job.startedAt = this.now();
    job.progress = { phase: 'starting', done: 0, total: 0 };
    this.send(job, true);
    let handle: ReturnType<JobRunner<P, R>>;
    try {
      handle = this.runner(job.params, (p) => {
        if (job.state !== 'running') return;
        job.progress = p;
        this.send(job, false);
      });
    } catch (e) {
      this.finish(job, { state: 'failed', error: toErrorInfo(e) });
      return;
    }
    job.cancel = handle.cancel;
    handle.result.then(
      (result) => this.finish(job, { state: 'succeeded', result }),
      (e) => {
        const error = toErrorInfo(e);
        this.finish(job, { state: error.code === 'cancelled' ? 'cancelled' : 'failed', error });
      },
    );
  }

  private finish(job: Job<P>, o: { state: JobDone<R>['state']; result?: R; error?: ErrorInfo }) {
    clearTimeout(job.pendingSend);
    job.state = o.state;
    if (o.error) job.error = o.error;
    job.progress = { ...job.progress, phase: o.state };
    const elapsed = job.startedAt === undefined ? 0 : (this.now() - job.startedAt) / 1000;
    this.finished = [...this.finished, { ...this.info(job), elapsed }].slice(-FINISHED_KEPT);
    this.jobs.delete(job.id);
    if (this.running === job) this.running = undefined;
    this.emit('done', { jobId: job.id, state: o.state, elapsed, ...(o.result !== undefined ? { result: o.result } : {}), ...(o.error ? { error: o.error } : {}) });
    this.pump();
  }
}

export function toErrorInfo(e: unknown): ErrorInfo {
  if (e instanceof HostError) return { code: e.code, message: e.message };
  // The engine's own errors (a malformed project read by the host, say) keep their code.
  if (e instanceof PatchbenchError) return { code: e.code, message: e.message };
  return { code: 'internal', message: e instanceof Error ? e.message : String(e) };
}
