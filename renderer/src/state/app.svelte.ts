/**
 * The workbench's state and the actions on it. Components read fields and call methods; only this
 * module talks to the host. Large results are $state.raw (replaced whole, never deep-proxied), and
 * answers that arrive after a newer request was made are dropped.
 */
import type {
  EventPayload,
  JobInfo,
  KindName,
  MenuCommand,
  MetricName,
  ModelEntry,
  ModelInfo,
  PairTokens,
  PatchingResult,
  PromptPair,
  Res,
  Transport,
} from '../../../shared/contract.ts';
import { ApiError, caller, messageOf, type Call } from '../lib/api.ts';
import { pairsToJsonl } from '../lib/pairs-file.ts';
import { sessionFromJson, sessionToJson, type RunMethod } from '../lib/session-file.ts';
import { openText, saveText, type OpenedFile } from '../lib/files.ts';
import { EMPTY_SELECTION, focusOf, hover, lock, restrictTo, toggleLock, type ComponentRef, type Selection } from '../lib/selection.ts';
import { heatmapKinds } from '../lib/charts/heatmap-option.ts';
import { scatterFacets } from '../lib/charts/scatter-option.ts';
import type { ThemeName } from '../lib/charts/theme.ts';

export type Catalog = Res<'engine:catalog'>;
export type Prediction = Res<'model:predict'>;

/** Keeps only the latest of overlapping async requests of one kind. */
function latest() {
  let seq = 0;
  return async <T>(work: () => Promise<T>, apply: (v: T) => void, fail?: (e: unknown) => void) => {
    const mine = ++seq;
    try {
      const v = await work();
      if (mine === seq) apply(v);
    } catch (e) {
      if (mine === seq) fail?.(e);
    }
  };
}

const DEFAULT_KINDS: KindName[] = ['resid_pre', 'attn_out', 'mlp_out', 'head_z'];

export type ViewTab = 'pairs' | 'scatter' | 'heatmap';
export const VIEW_TABS: readonly ViewTab[] = ['pairs', 'scatter', 'heatmap'];

function initialTheme(): ThemeName {
  try {
    const t = localStorage.getItem('patchbench.theme');
    if (t === 'light' || t === 'dark') return t;
  } catch {
    /* no storage */
  }
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export class AppState {
  readonly call: Call;
  info = $state<Res<'app:info'> | null>(null);
  catalog = $state.raw<Catalog | null>(null);
  engine = $state<EventPayload<'engine:status'>>({ state: 'starting', backend: null });
  startupError = $state<string | null>(null);

  models = $state.raw<ModelEntry[]>([]);
  model = $state.raw<ModelInfo | null>(null);
  /** the folder being loaded, while it loads */
  loadingDir = $state<string | null>(null);
  modelError = $state<{ dir: string; message: string } | null>(null);

  pairs = $state<PromptPair[]>([]);
  selected = $state(0);
  prependBos = $state(true);
  tokens = $state.raw<Res<'pairs:tokenize'> | null>(null);
  tokenizeError = $state<string | null>(null);
  predictions = $state.raw<{ clean: Prediction | null; corrupted: Prediction | null; error?: string }>({ clean: null, corrupted: null });
  generateError = $state<string | null>(null);
  importError = $state<string | null>(null);

  metric = $state<MetricName>('logit-diff');
  baseline = $state.raw<{ clean: number; corrupted: number } | { error: string } | null>(null);

  kinds = $state<KindName[]>([...DEFAULT_KINDS]);
  direction = $state<'denoising' | 'noising'>('denoising');
  method = $state<RunMethod>('verify');
  verifyK = $state(20);
  job = $state<JobInfo | null>(null);
  runError = $state<string | null>(null);
  result = $state.raw<PatchingResult | null>(null);
  /** wall-clock seconds of the last finished job (including queueing and transfer) */
  lastElapsed = $state<number | null>(null);
  notice = $state<string | null>(null);
  /** bumped on every change to the pairs, so results from older pairs can say so */
  pairsVersion = $state(0);
  resultPairsVersion = $state(0);
  private jobPairsVersion = 0;
  sessionPath = $state<string | null>(null);

  // ---- views (kept apart from results: this is what a project's view state holds) ----
  /** the one linked selection of table, scatter plots, heatmaps and token view */
  selection = $state.raw<Selection>(EMPTY_SELECTION);
  theme = $state<ThemeName>(initialTheme());
  tab = $state<ViewTab>('pairs');
  heatmapKind = $state<KindName | null>(null);

  private tokenizeLatest = latest();
  private predictLatest = latest();
  private baselineLatest = latest();
  private tokenizeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly transport: Transport) {
    this.call = caller(transport);
  }

  get host() {
    return this.transport.host;
  }
  /** what every view shows: the hovered component, else the locked one */
  get focus(): ComponentRef | null {
    return focusOf(this.selection);
  }

  hoverComponent(ref: ComponentRef | null): void {
    this.selection = hover(this.selection, ref);
  }

  /** A click on a component anywhere: locks it (or unlocks it), and the heatmap follows its kind. */
  clickComponent(ref: ComponentRef): void {
    this.lockComponent(toggleLock(this.selection, ref).locked);
  }

  lockComponent(ref: ComponentRef | null): void {
    this.selection = lock(this.selection, ref);
    if (ref && this.result && heatmapKinds(this.result).includes(ref.kind)) this.heatmapKind = ref.kind;
  }

  setTheme(t: ThemeName): void {
    this.theme = t;
    this.applyTheme();
    try {
      localStorage.setItem('patchbench.theme', t);
    } catch {
      /* no storage */
    }
  }

  applyTheme(): void {
    if (typeof document !== 'undefined') document.documentElement.dataset.theme = this.theme;
  }

  /** A new result: the selection keeps what still exists, and the views show it. */
  private showResult(r: PatchingResult | null, switchTab: boolean): void {
    this.result = r;
    this.selection = restrictTo(this.selection, r);
    if (!r) return;
    const kinds = heatmapKinds(r);
    if (!this.heatmapKind || !kinds.includes(this.heatmapKind)) this.heatmapKind = kinds[0] ?? null;
    if (switchTab && this.tab === 'pairs') this.tab = scatterFacets(r).length ? 'scatter' : kinds.length ? 'heatmap' : 'pairs';
  }
  get selectedPair(): PromptPair | undefined {
    return this.pairs[this.selected];
  }
  get selectedTokens(): PairTokens | undefined {
    return this.tokens?.pairs[this.selected];
  }
  /** Why a run cannot start now, in words; null when it can. */
  get runBlocker(): string | null {
    if (!this.model) return 'Load a model first.';
    if (this.pairs.length === 0) return 'Add at least one prompt pair.';
    if (this.kinds.length === 0) return 'Choose at least one component kind.';
    if (!this.tokens || this.tokens.pairs.length !== this.pairs.length) return 'Tokenizing the pairs…';
    if (this.tokens.problem) return 'Fix the pairs first (see the warning above).';
    if (this.job) return 'A job is running.';
    return null;
  }

  async init(): Promise<void> {
    this.applyTheme();
    const t = this.transport;
    t.on('engine:status', (s) => {
      const recovered = this.engine.state === 'crashed' && s.state === 'ready';
      this.engine = s;
      if (recovered) void this.refreshModel();
    });
    t.on('job:progress', (p) => {
      if (this.job && p.jobId === this.job.jobId) this.job = p;
    });
    t.on('job:done', (d) => this.onJobDone(d));
    t.on('menu:command', (m) => void this.menu(m.command, m.file));
    try {
      this.info = await this.call('app:info', undefined);
      if (this.info.backend) this.engine = { state: 'ready', backend: this.info.backend };
      const [models, catalog, current] = await Promise.all([
        this.call('models:list', undefined),
        this.call('engine:catalog', undefined),
        this.call('model:current', undefined),
      ]);
      this.models = models;
      this.catalog = catalog;
      if (current) this.model = current;
      // The engine may have been ready before this page subscribed to its status.
      if (this.engine.state === 'starting') this.engine = { state: 'ready', backend: current?.backend ?? this.engine.backend };
    } catch (e) {
      this.startupError = messageOf(e);
      return;
    }
    // A page reload in the browser host finds a job still running: follow it.
    const jobs = await this.call('job:list', undefined).catch(() => []);
    if (jobs.length) this.job = jobs[jobs.length - 1];
    if (!this.model) await this.loadModel(this.info.defaultModelDir);
    if (this.model && this.pairs.length === 0) await this.generate('ioi', 8, 1);
  }

  private async refreshModel() {
    try {
      this.model = await this.call('model:current', undefined);
      this.retokenize();
    } catch (e) {
      this.modelError = { dir: this.model?.dir ?? '', message: messageOf(e) };
    }
  }

  async loadModel(dir: string, remember = false): Promise<void> {
    this.loadingDir = dir;
    this.modelError = null;
    try {
      this.model = await this.call('model:load', { dir, remember });
      if (this.model.backend) this.engine = { ...this.engine, backend: this.model.backend };
      if (remember) this.models = await this.call('models:list', undefined);
      this.retokenize();
    } catch (e) {
      this.modelError = { dir, message: messageOf(e) };
    } finally {
      this.loadingDir = null;
    }
  }

  async pickModelFolder(): Promise<void> {
    if (this.host !== 'electron') return;
    try {
      const dir = await this.call('dialog:pickFolder', { title: 'Open a model folder' });
      if (dir) await this.loadModel(dir, true);
    } catch (e) {
      this.modelError = { dir: '', message: messageOf(e) };
    }
  }

  // ---- pairs ----

  /** Call after any change to the pairs or to how they are tokenized. */
  retokenize(): void {
    this.pairsVersion++;
    clearTimeout(this.tokenizeTimer);
    this.tokenizeTimer = setTimeout(() => this.tokenizeNow(), 150);
  }

  private tokenizeNow() {
    if (!this.model) return;
    const pairs = $state.snapshot(this.pairs);
    void this.tokenizeLatest(
      () => this.call('pairs:tokenize', { pairs, prependBos: this.prependBos }),
      (r) => {
        this.tokens = r;
        this.tokenizeError = null;
        this.refreshBaseline();
        this.refreshPredictions();
      },
      (e) => (this.tokenizeError = messageOf(e)),
    );
  }

  refreshBaseline(): void {
    if (!this.model || !this.tokens || this.tokens.problem || this.pairs.length === 0) {
      this.baseline = null;
      return;
    }
    const pairs = $state.snapshot(this.pairs);
    void this.baselineLatest(
      () => this.call('pairs:baseline', { pairs, metric: this.metric, prependBos: this.prependBos }),
      (b) => (this.baseline = b),
      (e) => (this.baseline = { error: messageOf(e) }),
    );
  }

  /** The model's top next tokens after the selected pair's clean and corrupted prompts, to pick answers from. */
  refreshPredictions(): void {
    const p = this.selectedPair;
    if (!this.model || !p || !p.clean || !p.corrupted) {
      this.predictions = { clean: null, corrupted: null };
      return;
    }
    const { clean, corrupted } = p;
    void this.predictLatest(
      () =>
        Promise.all([
          this.call('model:predict', { prompt: clean, top: 8, prependBos: this.prependBos }),
          this.call('model:predict', { prompt: corrupted, top: 8, prependBos: this.prependBos }),
        ]),
      ([c, x]) => {
        this.predictions = { clean: c, corrupted: x };
        this.seedAnswers(c, x);
      },
      (e) => (this.predictions = { clean: null, corrupted: null, error: messageOf(e) }),
    );
  }

  /**
   * A new pair without answers gets the model's own guesses: the top next token after the clean prompt
   * as the answer, and the top one after the corrupted prompt (if different) as the wrong answer.
   */
  private seedAnswers(c: Prediction, x: Prediction) {
    const p = this.selectedPair;
    // Only a new pair (both empty): a field the user just cleared to retype stays empty.
    if (!p || p.answer || p.wrong) return;
    const answer = c.top[0]?.token ?? '';
    const wrong = (x.top.find((t) => t.token !== answer) ?? c.top.find((t) => t.token !== answer))?.token ?? '';
    this.updatePair(this.selected, { answer, wrong });
  }

  select(i: number): void {
    this.selected = Math.max(0, Math.min(this.pairs.length - 1, i));
    this.refreshPredictions();
  }

  updatePair(i: number, patch: Partial<PromptPair>): void {
    Object.assign(this.pairs[i], patch);
    this.retokenize();
  }

  addPair(): void {
    const base = this.selectedPair;
    this.pairs.push(base ? { clean: base.clean, corrupted: base.corrupted, answer: '', wrong: '' } : { clean: '', corrupted: '', answer: '', wrong: '' });
    this.select(this.pairs.length - 1);
    this.retokenize();
  }

  duplicatePair(i: number): void {
    this.pairs.splice(i + 1, 0, { ...$state.snapshot(this.pairs[i]) });
    this.select(i + 1);
    this.retokenize();
  }

  removePair(i: number): void {
    this.pairs.splice(i, 1);
    this.select(Math.min(i, this.pairs.length - 1));
    this.retokenize();
  }

  async generate(task: 'ioi' | 'induction' | 'pronoun', n: number, seed: number, corruption?: 'subject-swap' | 'three-names', replace = true): Promise<void> {
    this.generateError = null;
    try {
      const pairs = await this.call('pairs:generate', { task, n, seed, ...(corruption && task === 'ioi' ? { corruption } : {}) });
      this.pairs = replace ? pairs : [...$state.snapshot(this.pairs), ...pairs];
      this.select(replace ? 0 : this.selected);
      this.retokenize();
    } catch (e) {
      this.generateError = messageOf(e);
    }
  }

  async importJsonl(text: string, source: string): Promise<void> {
    this.importError = null;
    try {
      this.pairs = await this.call('pairs:parseJsonl', { text, source });
      this.select(0);
      this.retokenize();
    } catch (e) {
      this.importError = messageOf(e);
    }
  }

  async importJsonlFile(): Promise<void> {
    this.importError = null;
    try {
      const f = await openText(this, { title: 'Import prompt pairs', filters: [{ name: 'JSON Lines', extensions: ['jsonl', 'json', 'txt'] }] });
      if (f) await this.importJsonl(f.text, f.name);
    } catch (e) {
      this.importError = messageOf(e);
    }
  }

  async exportJsonl(): Promise<void> {
    try {
      await saveText(this, { title: 'Export prompt pairs', suggestedName: 'pairs.jsonl', text: pairsToJsonl($state.snapshot(this.pairs)), filters: [{ name: 'JSON Lines', extensions: ['jsonl'] }] });
    } catch (e) {
      this.importError = messageOf(e);
    }
  }

  setMetric(m: MetricName): void {
    this.metric = m;
    this.refreshBaseline();
  }

  // ---- jobs ----

  async run(): Promise<void> {
    if (this.runBlocker) return;
    this.runError = null;
    const verify = this.method === 'verify';
    this.jobPairsVersion = this.pairsVersion;
    try {
      const { jobId } = await this.call('job:start', {
        pairs: $state.snapshot(this.pairs),
        prependBos: this.prependBos,
        request: {
          direction: this.direction,
          metric: this.metric,
          kinds: $state.snapshot(this.kinds),
          method: this.method === 'verify' ? 'attribution' : this.method,
          ...(verify ? { verifyTop: this.verifyK } : {}),
        },
      });
      // Progress may already have arrived for this id; keep whichever is newer.
      if (!this.job || this.job.jobId !== jobId) this.job = { jobId, state: 'queued', phase: 'queued', done: 0, total: 0, elapsed: 0 };
    } catch (e) {
      this.runError = messageOf(e);
    }
  }

  async cancel(): Promise<void> {
    if (!this.job) return;
    try {
      await this.call('job:cancel', { jobId: this.job.jobId });
    } catch (e) {
      // The job finished meanwhile; its 'done' event clears it.
      if (!(e instanceof ApiError)) this.runError = messageOf(e);
    }
  }

  private onJobDone(d: EventPayload<'job:done'>) {
    if (!this.job || d.jobId !== this.job.jobId) {
      // A job this page did not start (another tab); keep its result only if we have none.
      if (!this.job && d.result && !this.result) this.showResult(d.result, false);
      return;
    }
    this.job = null;
    this.lastElapsed = d.elapsed;
    if (d.state === 'succeeded' && d.result) {
      this.showResult(d.result, true);
      this.resultPairsVersion = this.jobPairsVersion;
      this.runError = null;
    } else if (d.state === 'cancelled') {
      this.notice = 'The run was cancelled.';
    } else {
      this.runError = d.error?.message ?? 'the run failed';
    }
  }

  // ---- files and menu ----

  private session() {
    return {
      format: 'patchbench-session' as const,
      version: 1 as const,
      modelDir: this.model?.dir ?? null,
      pairs: $state.snapshot(this.pairs),
      settings: { prependBos: this.prependBos, metric: this.metric, direction: this.direction, kinds: $state.snapshot(this.kinds), method: this.method, verifyK: this.verifyK },
    };
  }

  async menu(command: MenuCommand, file?: OpenedFile): Promise<void> {
    this.notice = null;
    try {
      switch (command) {
        case 'new':
          this.pairs = [{ clean: '', corrupted: '', answer: '', wrong: '' }];
          this.showResult(null, false);
          this.sessionPath = null;
          this.select(0);
          this.retokenize();
          return;
        case 'open': {
          const f = file ?? (await openText(this, { title: 'Open a Patchbench session', filters: [{ name: 'Patchbench session', extensions: ['json'] }] }));
          if (!f) return;
          const sess = sessionFromJson(f.text, f.name);
          Object.assign(this, { prependBos: sess.settings.prependBos, metric: sess.settings.metric, direction: sess.settings.direction, method: sess.settings.method, verifyK: sess.settings.verifyK });
          this.kinds = sess.settings.kinds;
          this.pairs = sess.pairs;
          this.sessionPath = f.path ?? null;
          this.select(0);
          if (sess.modelDir && sess.modelDir !== this.model?.dir) await this.loadModel(sess.modelDir);
          this.retokenize();
          return;
        }
        case 'save':
        case 'saveAs': {
          const written = await saveText(this, { title: 'Save the session', suggestedName: 'session.patchbench.json', text: sessionToJson(this.session()), filters: [{ name: 'Patchbench session', extensions: ['json'] }] });
          if (written) this.sessionPath = written;
          return;
        }
        case 'exportCsv':
          this.notice = this.result ? null : 'There are no results to export yet: run a job first.';
          if (this.result) window.dispatchEvent(new CustomEvent('patchbench:export-csv'));
          return;
        case 'openModelFolder':
          await this.pickModelFolder();
          return;
      }
    } catch (e) {
      this.notice = messageOf(e);
    }
  }
}
