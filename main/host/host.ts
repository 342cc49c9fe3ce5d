/**
 * The host: everything behind the contract that is not Electron or HTTP. Both the Electron main
 * process and the browser host create one and forward requests to `invoke`, which validates the
 * request against the contract and always answers {ok, value} or {ok: false, error}.
 */
import { parseCircuitFile } from './circuits.ts';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import {
  CHANNELS,
  isChannel,
  type Answer,
  type Channel,
  type CircuitResult,
  type EventName,
  type EventPayload,
  type PatchingResult,
  type Req,
  type Res,
} from '../../shared/contract.ts';
import { SchemaError } from '../../shared/schema.ts';
import { bundledModelDir, discoverModels, rememberModelFolder } from '../engine/discovery.ts';
import { EngineClient, type EngineClientOptions } from './engine-client.ts';
import { HostError } from './errors.ts';
import { JobManager, toErrorInfo } from './jobs.ts';
import { jobDescription } from './job-label.ts';
import { Projects } from './projects.ts';

/** Native dialogs, which only the Electron host has. */
export interface Dialogs {
  saveText(req: Req<'file:save'>): Promise<Res<'file:save'>>;
  openText(req: Req<'file:open'>): Promise<Res<'file:open'>>;
  pickFolder(req: Req<'dialog:pickFolder'>): Promise<Res<'dialog:pickFolder'>>;
  pickProjectToOpen(): Promise<string | null>;
  pickProjectToSave(suggestedName: string): Promise<string | null>;
}

/** The desktop window, which only the Electron host has. */
export interface WindowControl {
  setState(req: Req<'window:state'>): void;
  close(): void;
}

export interface HostOptions {
  kind: 'electron' | 'web';
  versions?: { electron?: string; chrome?: string };
  dialogs?: Dialogs;
  window?: WindowControl;
  engine?: EngineClientOptions;
  throttleMs?: number;
}

type Handlers = { [C in Channel]: (req: Req<C>) => Promise<Res<C>> };
/** A job on the one queue: patching (`job:start`) or a circuit (`circuit:start`). */
export type JobParams = { kind: 'patching'; params: Req<'job:start'> } | { kind: 'circuit'; params: Req<'circuit:start'> };
export type JobOutput = { result: PatchingResult } | { circuit: CircuitResult };

export type HostEvents = { [E in EventName]: [EventPayload<E>] };

function appVersion(): string {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

export class Host extends EventEmitter<HostEvents> {
  readonly engine: EngineClient;
  readonly jobs: JobManager<JobParams, JobOutput>;
  readonly projects: Projects;
  private readonly handlers: Handlers;

  constructor(private readonly o: HostOptions) {
    super();
    this.engine = new EngineClient(o.engine);
    this.engine.on('status', (s) => this.emit('engine:status', { state: s.state, backend: s.backend, ...(s.message ? { message: s.message } : {}) }));
    this.jobs = new JobManager<JobParams, JobOutput>(
      (job, onProgress) => {
        if (job.kind === 'circuit') {
          const call = this.engine.call('circuit', job.params, onProgress);
          return { result: call.result.then((circuit) => ({ circuit })), cancel: () => this.engine.cancel(call.id) };
        }
        const call = this.engine.call('patch', job.params, onProgress);
        return { result: call.result.then((result) => ({ result })), cancel: () => this.engine.cancel(call.id) };
      },
      { throttleMs: o.throttleMs, describe: jobDescription },
    );
    this.projects = new Projects(this.engine);
    this.jobs.on('progress', (p) => this.emit('job:progress', p));
    // The payload carries the patching result as `result`, a circuit as `circuit`.
    this.jobs.on('done', ({ result, ...d }) => this.emit('job:done', { ...d, ...result }));
    this.handlers = this.makeHandlers();
  }

  start(): Promise<string> {
    this.projects.removeStaleTemps();
    return this.engine.start();
  }

  async stop(): Promise<void> {
    await this.engine.stop();
  }

  /** The one entry point for requests from the UI, whichever transport they came over. */
  async invoke(channel: unknown, request: unknown): Promise<Answer<unknown>> {
    if (!isChannel(channel)) {
      return { ok: false, error: { code: 'bad-request', message: `unknown channel ${JSON.stringify(channel)}` } };
    }
    let req: unknown;
    try {
      req = CHANNELS[channel].request.parse(request, 'request');
    } catch (e) {
      const message = e instanceof SchemaError ? e.message : String(e);
      return { ok: false, error: { code: 'bad-request', message: `${channel}: ${message}` } };
    }
    try {
      const value = await (this.handlers[channel] as (r: unknown) => Promise<unknown>)(req);
      return { ok: true, value };
    } catch (e) {
      return { ok: false, error: toErrorInfo(e) };
    }
  }

  private makeHandlers(): Handlers {
    const engine = this.engine;
    const dialogs = () => {
      if (!this.o.dialogs) throw new HostError('unsupported', 'native file dialogs exist only in the desktop app');
      return this.o.dialogs;
    };
    return {
      'app:info': async () => ({
        version: appVersion(),
        host: this.o.kind,
        versions: { node: process.versions.node, ...this.o.versions },
        platform: `${process.platform} ${process.arch}`,
        backend: engine.status.backend,
        defaultModelDir: bundledModelDir(),
      }),
      'engine:catalog': () => engine.call('catalog', undefined).result,
      'models:list': async () => discoverModels(),
      'model:load': async ({ dir, remember }) => {
        const info = await engine.call('load', { dir }).result;
        if (remember) rememberModelFolder(info.dir);
        return info;
      },
      'model:current': () => engine.call('current', undefined).result,
      'model:predict': (r) => engine.call('predict', r).result,
      'pairs:generate': (r) => engine.call('generate', r).result,
      'pairs:tokenize': (r) => engine.call('tokenize', r).result,
      'pairs:baseline': (r) => engine.call('baseline', r).result,
      'pairs:parseJsonl': (r) => engine.call('parseJsonl', r).result,
      'circuit:parse': async ({ text, source }) => parseCircuitFile(text, source),
      'job:start': async (r) => ({ jobId: this.jobs.start({ kind: 'patching', params: r }) }),
      'circuit:start': async (r) => ({ jobId: this.jobs.start({ kind: 'circuit', params: r }) }),
      'job:cancel': async ({ jobId }) => ({ state: this.jobs.cancel(jobId) }),
      'job:list': async () => this.jobs.list(),
      'file:save': (r) => dialogs().saveText(r),
      'file:open': (r) => dialogs().openText(r),
      'dialog:pickFolder': (r) => dialogs().pickFolder(r),
      'project:open': ({ path }) => this.projects.open(path),
      'project:save': ({ path, doc }) => this.projects.save(path, doc),
      'project:autosave': ({ projectPath, doc }) => this.projects.autosave(projectPath, doc),
      'project:recovery': async () => this.projects.recovery(),
      'project:discardRecovery': async ({ path }) => this.projects.discardRecovery(path),
      'project:files': async () => this.projects.files(),
      'project:pickOpen': () => dialogs().pickProjectToOpen(),
      'project:pickSave': ({ suggestedName }) => dialogs().pickProjectToSave(suggestedName),
      'window:state': async (r) => this.o.window?.setState(r),
      'window:close': async () => {
        if (!this.o.window) throw new HostError('unsupported', 'only the desktop app has a window to close');
        this.o.window.close();
      },
    };
  }
}
