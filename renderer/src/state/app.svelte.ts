/**
 * The workbench's state and the actions on it. Components read fields and call methods; only this
 * module talks to the host. Large results are $state.raw (replaced whole, never deep-proxied), and
 * answers that arrive after a newer request was made are dropped.
 */
import type {
  CircuitRequest,
  CircuitResult,
  OpenedProject,
  ProjectDoc,
  ProjectFileEntry,
  ProjectSettings,
  Provenance,
  Recoverable,
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
import type { RunMethod } from '../lib/session-file.ts';
import { openText, saveText, type OpenedFile } from '../lib/files.ts';
import { EMPTY_SELECTION, focusOf, hover, lock, restrictTo, selectionFromView, selectionToView, toggleLock, type ComponentRef, type Selection } from '../lib/selection.ts';
import { runMethodOf, settingsOf, viewOf, readView, VIEW_TAB_NAMES, type CircuitView, type RunPanel, type ScoreColumn, type ViewState } from '../lib/project-view.ts';
import { defaultSort, type Sort } from '../lib/rows.ts';

export interface TableView {
  sort: Sort;
  /** '' for all */
  kind: KindName | '';
  layer: string;
  pos: string;
  search: string;
  /** the AtP* column the table shows and sorts by (absent: the most complete the result has) */
  score?: ScoreColumn;
}
const defaultTableView = (r?: PatchingResult | null): TableView => ({ sort: r ? defaultSort(r) : { key: 'attribution', desc: true, abs: true }, kind: '', layer: '', pos: '', search: '' });
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

export type Dialog =
  | { kind: 'open'; error?: string; busy?: boolean }
  | { kind: 'saveAs'; error?: string; busy?: boolean }
  | { kind: 'unsaved'; action: string; resolve: (choice: 'save' | 'discard' | 'cancel') => void }
  | { kind: 'recover'; items: Recoverable[] };

export type ViewTab = (typeof VIEW_TAB_NAMES)[number];
export const VIEW_TABS: readonly ViewTab[] = VIEW_TAB_NAMES;

/** The model and run panel is open unless the user closed it (a preference of this machine, not of a project). */
function initialSidePanel(): boolean {
  try {
    return localStorage.getItem('patchbench.sidePanel') !== 'closed';
  } catch {
    return true;
  }
}

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
  /** set when the model's tokenizer left fewer pairs than asked for */
  generateNote = $state<string | null>(null);
  importError = $state<string | null>(null);

  metric = $state<MetricName>('logit-diff');
  baseline = $state.raw<{ clean: number; corrupted: number } | { error: string } | null>(null);

  kinds = $state<KindName[]>([...DEFAULT_KINDS]);
  direction = $state<'denoising' | 'noising'>('denoising');
  method = $state<RunMethod>('verify');
  verifyK = $state(20);
  /** AtP* (Kramár et al. 2024): the QK fix for head_q/head_k, GradDrop, the order "verify top K" follows ('' = default), recall K */
  qkFix = $state(false);
  gradDrop = $state(false);
  rankBy = $state<NonNullable<RunPanel['rankBy']>>('');
  recallK = $state(10);
  /** the scatter's head_q/head_k facets also show the QK-fixed estimate */
  scatterQk = $state(true);
  /** the kind the Recall view shows (null: the first with curves) */
  recallKind = $state<KindName | null>(null);
  /** the job this page started (or, after a reload, found running), while it is queued or running */
  job = $state<JobInfo | null>(null);
  /** a start request is on its way to the host (Run is disabled from the click on, so a double click is one job) */
  starting = $state(false);
  /** every job the host has, from every page and window: queued, running, and the last few finished (the Jobs list) */
  jobs = $state.raw<JobInfo[]>([]);
  runError = $state<string | null>(null);
  result = $state.raw<PatchingResult | null>(null);
  /** wall-clock seconds of the last finished job (including queueing and transfer) */
  lastElapsed = $state<number | null>(null);
  notice = $state<string | null>(null);
  /** bumped on every change to the pairs, so results from older pairs can say so */
  pairsVersion = $state(0);
  resultPairsVersion = $state(0);
  private jobPairsVersion = 0;

  // ---- the project ----
  /** where Save writes (null: untitled), and the name in the title bar */
  project = $state<{ path: string | null; name: string }>({ path: null, name: 'Untitled' });
  /** the settings, pairs and provenance that produced `result` (saved with it) */
  resultSettings = $state.raw<ProjectSettings | null>(null);
  resultPairs = $state.raw<PromptPair[] | null>(null);
  /** the model folder the result came from (saved as the project's model while there is a result) */
  resultModelDir: string | null = null;
  private jobModelDir: string | null = null;
  provenance = $state.raw<Provenance | null>(null);
  // ---- the project's circuit (the Circuit tab shows it; Save stores it) ----
  /** the project's circuit: from the opened project, from a circuit job (startCircuit), or read from a file */
  circuit = $state.raw<CircuitResult | null>(null);
  /** the circuit's provenance (a project's, kept as it was; a job's, from its result) */
  circuitProvenance = $state.raw<Provenance | null>(null);
  /** the pairs the circuit was computed on (null: not known, as for a read-in `patchbench circuit --out` file) */
  circuitPairs: PromptPair[] | null = null;
  /** why the last circuit job failed, in words (for the Circuit tab's Run form) */
  circuitError = $state<string | null>(null);
  /** the Circuit view's n and score (null: the circuit's own) */
  circuitView = $state<CircuitView | null>(null);
  /** the Circuit tab's Run form (direction and metric are the run panel's); a project's circuit request fills it */
  circuitForm = $state<Pick<CircuitRequest, 'method' | 'steps' | 'extraction' | 'n' | 'curve'>>({ method: 'eap-ig', steps: 5, extraction: 'top-n', n: 200, curve: true });
  /**
   * The computed circuit that a circuit read from a file is shown over: Save keeps it, since a
   * `patchbench circuit --out` file does not say how it was computed.
   */
  private shadowedCircuit: { circuit: CircuitResult; provenance: Provenance | null; pairs: PromptPair[] | null } | null = null;
  /** bumped when a circuit arrives, so a new circuit makes the project dirty */
  private circuitVersion = $state(0);
  private jobCircuitPairs: PromptPair[] | null = null;
  /** a sentence when the opened project's model is missing or changed */
  modelNotice = $state<string | null>(null);
  /** what was odd but readable in the project file just opened (unknown keys…), until dismissed */
  projectWarnings = $state<{ file: string; messages: string[] } | null>(null);
  /** the modal dialog shown, if any */
  dialog = $state<Dialog | null>(null);
  projectFiles = $state.raw<{ recent: ProjectFileEntry[]; examples: ProjectFileEntry[]; defaultDir: string } | null>(null);
  /** bumped when a result arrives, so a new result makes the project dirty */
  private resultVersion = $state(0);
  private savedSignature = $state('');
  private jobSettings: ProjectSettings | null = null;
  private jobPairs: PromptPair[] | null = null;
  private autosaveTimer: ReturnType<typeof setInterval> | undefined;
  private lastAutosaved = '';

  /** what a save would write, minus view state: differs from the saved one exactly when there are unsaved changes */
  readonly signature = $derived.by(() =>
    JSON.stringify({ pairs: this.pairs, settings: this.currentSettings(), result: this.resultVersion, circuit: this.circuitVersion, model: this.model?.dir ?? null }),
  );
  get dirty(): boolean {
    return this.signature !== this.savedSignature;
  }
  get title(): string {
    return `${this.dirty ? '• ' : ''}${this.project.name} — Patchbench`;
  }

  // ---- views (kept apart from results: this is what a project's view state holds) ----
  /** the one linked selection of table, scatter plots, heatmaps and token view */
  selection = $state.raw<Selection>(EMPTY_SELECTION);
  /** the view the pointer is in while it hovers a component */
  hoverSource = $state<string | null>(null);
  theme = $state<ThemeName>(initialTheme());
  tab = $state<ViewTab>('pairs');
  heatmapKind = $state<KindName | null>(null);
  /** the ranking table's order and filters */
  tableView = $state<TableView>(defaultTableView());
  /** the views' share of the height above the ranking table (null: the default layout) */
  viewsShare = $state<number | null>(null);
  /** whether the model and run panel on the left is shown (closing it gives the views the width) */
  sidePanelOpen = $state(initialSidePanel());
  /** the views take the whole height: the token strip and the ranking table are hidden (a laptop screen, a big circuit) */
  viewsMaximised = $state(false);

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

  /**
   * The pointer is over a component (null: over none). `source` names the view it is in: that view
   * already shows the hover itself (and an ECharts tooltip, which redrawing would hide).
   */
  hoverComponent(ref: ComponentRef | null, source: string | null = null): void {
    this.selection = hover(this.selection, ref);
    this.hoverSource = ref ? source : null;
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

  setSidePanel(open: boolean): void {
    this.sidePanelOpen = open;
    try {
      localStorage.setItem('patchbench.sidePanel', open ? 'open' : 'closed');
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
    // A new run's table starts at its natural order, showing everything.
    if (switchTab) this.tableView = defaultTableView(r);
    if (switchTab && this.tab === 'pairs') this.tab = scatterFacets(r).length ? 'scatter' : kinds.length ? 'heatmap' : 'pairs';
  }
  get selectedPair(): PromptPair | undefined {
    return this.pairs[this.selected];
  }
  /** The catalog's kinds that the loaded model has (resid_mid is absent under parallel attention). */
  get offeredKinds(): NonNullable<typeof this.catalog>['kinds'] {
    const all = this.catalog?.kinds ?? [];
    const has = this.model?.kinds;
    return has ? all.filter((k) => has.includes(k.name)) : all;
  }
  /** The chosen kinds this model has: a choice the model lacks is kept for the next model, not run. */
  get runKinds(): KindName[] {
    const has = this.model?.kinds;
    return has ? this.kinds.filter((k) => has.includes(k)) : this.kinds;
  }
  get selectedTokens(): PairTokens | undefined {
    return this.tokens?.pairs[this.selected];
  }
  /** Why a run cannot start now, in words; null when it can. */
  get runBlocker(): string | null {
    if (!this.model) return 'Load a model first.';
    if (this.pairs.length === 0) return 'Add at least one prompt pair.';
    if (this.runKinds.length === 0) return 'Choose at least one component kind.';
    if (!this.tokens || this.tokens.pairs.length !== this.pairs.length) return 'Tokenizing the pairs…';
    if (this.tokens.problem) return 'Fix the pairs first (see the warning above).';
    return this.jobBlocker;
  }

  /** Why a circuit job cannot start now, in words; null when it can (the Circuit tab's Run form). */
  get circuitBlocker(): string | null {
    if (!this.model) return 'Load a model first.';
    if (this.pairs.length === 0) return 'Add at least one prompt pair.';
    if (!this.tokens || this.tokens.pairs.length !== this.pairs.length) return 'Tokenizing the pairs…';
    if (this.tokens.problem) return 'Fix the pairs first (on the Prompt pairs tab).';
    return this.jobBlocker;
  }

  /** One job per intent: while this page's job is being started, queued or running, nothing else starts. */
  private get jobBlocker(): string | null {
    if (this.starting) return 'Starting the job…';
    if (this.job) return this.job.state === 'queued' ? 'A job is queued.' : 'A job is running.';
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
      this.jobs = upsertJob(this.jobs, p);
      if (this.job && p.jobId === this.job.jobId) this.job = p;
    });
    t.on('job:done', (d) => this.onJobDone(d));
    t.on('menu:command', (m) => void this.menu(m.command, m.file, m.path));
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
    const jobs = await this.call('job:list', undefined).catch(() => [] as JobInfo[]);
    for (const j of jobs) this.jobs = upsertJob(this.jobs, j);
    const active = this.jobs.filter(isActive);
    if (active.length && !this.job) this.job = active[active.length - 1];
    await this.startProject();
    this.autosaveTimer = setInterval(() => void this.autosave(), AUTOSAVE_MS);
    if (typeof window !== 'undefined') {
      window.addEventListener('beforeunload', (e) => {
        if (this.dirty) e.preventDefault();
      });
    }
  }

  /**
   * What the app opens at start: an offer to recover what a crash left behind; else the project
   * open when it last closed; else, on the very first start, the bundled example; else a new project.
   */
  private async startProject(): Promise<void> {
    const [recovery, files] = await Promise.all([
      this.call('project:recovery', undefined).catch(() => [] as Recoverable[]),
      this.call('project:files', undefined).catch(() => null),
    ]);
    if (files) this.projectFiles = files;
    const usable = recovery.filter((r) => !r.problem && r.newer);
    const start = files?.startup ?? (files?.firstStart ? files.examples.find((e) => e.exists)?.path : (files?.last ?? undefined));
    if (start && (await this.openPath(start, { quiet: !files?.startup }))) {
      // Opened; if its model could not be loaded, the default one is, so that runs can start.
      if (!this.model) {
        const dirty = this.dirty;
        await this.loadModel(this.info!.defaultModelDir);
        if (!dirty) this.markSaved();
      }
    } else {
      if (!this.model) await this.loadModel(this.info!.defaultModelDir);
      if (this.model && this.pairs.length === 0) await this.generate('ioi', 8, 1);
      this.markSaved();
    }
    if (usable.length) this.dialog = { kind: 'recover', items: usable };
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
    this.generateNote = null;
    try {
      const pairs = await this.call('pairs:generate', { task, n, seed, ...(corruption && task === 'ioi' ? { corruption } : {}) });
      if (pairs.length < n) {
        this.generateNote =
          `Only ${pairs.length} of ${n} pairs could be made with this model's tokenizer: names and answers must be single tokens ` +
          'for it, and clean and corrupted prompts the same length.';
      }
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
    this.starting = true;
    const verify = this.method === 'verify';
    this.jobPairsVersion = this.pairsVersion;
    this.jobSettings = this.currentSettings();
    this.jobPairs = $state.snapshot(this.pairs);
    this.jobModelDir = this.model?.dir ?? null;
    try {
      const { jobId } = await this.call('job:start', {
        pairs: $state.snapshot(this.pairs),
        prependBos: this.prependBos,
        request: {
          direction: this.direction,
          metric: this.metric,
          kinds: $state.snapshot(this.runKinds),
          method: this.method === 'verify' ? 'attribution' : this.method,
          ...(verify ? { verifyTop: this.verifyK } : {}),
          ...(this.qkFix ? { qkFix: true } : {}),
          ...(this.gradDrop ? { gradDrop: true } : {}),
          ...(verify && this.rankBy ? { rankBy: this.rankBy } : {}),
          ...(this.method === 'both' ? { recallK: this.recallK } : {}),
        },
      });
      this.follow(jobId, 'patching');
    } catch (e) {
      this.runError = messageOf(e);
    } finally {
      this.starting = false;
    }
  }

  /**
   * Starts a circuit job (edge attribution patching: EAP or EAP-IG scores, a circuit, its
   * faithfulness) on the project's pairs, with the BOS setting of the pair editor. The Circuit
   * tab's Run form calls it; `circuitBlocker` says when it cannot (it is null when it can), and
   * Run stays disabled from the click until the job ends (one job per intent).
   *
   * The job is this page's `job` (its progress and Cancel show in the run panel and the Jobs
   * list, as a patching job's do). When it succeeds, `circuit` holds the result with its request,
   * metric and provenance (the tab stays as it is: the caller's view shows `circuit`), the project
   * becomes dirty, and Save stores the circuit with the project. When it fails, `circuitError`
   * says why in words; a cancelled job leaves the previous circuit and says so in `notice`.
   */
  async startCircuit(request: CircuitRequest): Promise<void> {
    if (this.circuitBlocker) return;
    this.circuitError = null;
    this.starting = true;
    this.jobCircuitPairs = $state.snapshot(this.pairs);
    try {
      const { jobId } = await this.call('circuit:start', { pairs: this.jobCircuitPairs, prependBos: this.prependBos, request: { ...request } });
      this.follow(jobId, 'circuit');
    } catch (e) {
      this.circuitError = messageOf(e);
    } finally {
      this.starting = false;
    }
  }

  /** This page's new job: its latest report (progress may have come before the answer), else queued. */
  private follow(jobId: string, kind: JobInfo['kind']): void {
    const known = this.jobs.find((j) => j.jobId === jobId);
    this.job = known ?? { jobId, kind, label: '', state: 'queued', phase: 'queued', done: 0, total: 0, elapsed: 0 };
    // It may have ended before the answer came (cancelled from another window at once, say).
    const ended = this.doneWhileStarting;
    this.doneWhileStarting = [];
    const mine = ended.find((d) => d.jobId === jobId);
    if (mine) this.onJobDone(mine);
  }

  /** 'done' events that came while a start was on its way: one may be the started job's. */
  private doneWhileStarting: EventPayload<'job:done'>[] = [];

  /** Cancels this page's job. */
  async cancel(): Promise<void> {
    if (this.job) await this.cancelJob(this.job.jobId);
  }

  /** Cancels any job the host has (the Jobs list's Cancel), whichever page started it. */
  async cancelJob(jobId: string): Promise<void> {
    try {
      await this.call('job:cancel', { jobId });
    } catch (e) {
      // The job finished meanwhile; its 'done' event clears it.
      if (!(e instanceof ApiError)) this.runError = messageOf(e);
    }
  }

  private onJobDone(d: EventPayload<'job:done'>) {
    const known = this.jobs.find((j) => j.jobId === d.jobId);
    if (known) {
      const ended: JobInfo = { ...known, state: d.state, phase: d.state, elapsed: d.elapsed, ...(d.error ? { error: d.error } : {}) };
      this.jobs = upsertJob(this.jobs, ended);
    }
    if (!this.job && this.starting) this.doneWhileStarting.push(d);
    if (!this.job || d.jobId !== this.job.jobId) {
      // A job this page did not start (another tab); keep its result only if we have none.
      if (!this.job && d.result && !this.result) this.showResult(d.result, false);
      return;
    }
    const kind = this.job.kind;
    this.job = null;
    this.lastElapsed = d.elapsed;
    if (kind === 'circuit') return this.onCircuitDone(d);
    if (d.state === 'succeeded' && d.result) {
      this.showResult(d.result, true);
      this.resultVersion++;
      this.resultSettings = this.jobSettings;
      this.resultPairs = this.jobPairs;
      this.resultModelDir = this.jobModelDir;
      this.provenance = { appVersion: this.info?.version ?? null, backend: d.result.backend, date: new Date().toISOString(), seconds: d.result.seconds };
      this.resultPairsVersion = this.jobPairsVersion;
      this.runError = null;
    } else if (d.state === 'cancelled') {
      this.notice = 'The run was cancelled.';
    } else {
      this.runError = d.error?.message ?? 'the run failed';
    }
  }

  /**
   * Replaces the project's circuit (null: none). `pairs`: the pairs it was computed on, when known.
   * The project becomes dirty, and Save stores a circuit that says how it was computed.
   */
  setCircuit(c: CircuitResult | null, provenance: Provenance | null = c?.provenance ?? null, pairs: PromptPair[] | null = null): void {
    this.circuit = c;
    this.circuitProvenance = provenance;
    this.circuitPairs = pairs;
    this.circuitVersion++;
    this.shadowedCircuit = null;
    // a new circuit opens at its own n and score
    this.circuitView = null;
  }

  /** Circuit → Open circuit file…: a `patchbench circuit --out` JSON, shown in the Circuit view. */
  async openCircuitFile(): Promise<void> {
    this.circuitError = null;
    try {
      const f = await openText(this, { title: 'Open a circuit (patchbench circuit --out JSON)', filters: [{ name: 'Circuit JSON', extensions: ['json'] }] });
      if (f) this.showCircuitFile(await this.call('circuit:parse', { text: f.text, source: f.path ?? f.name }));
    } catch (e) {
      this.circuitError = messageOf(e);
    }
  }

  /**
   * A circuit read from a file: shown at its own n and score. It does not change what Save writes
   * (the project keeps a computed circuit it has), so the project does not become dirty.
   */
  showCircuitFile(c: CircuitResult): void {
    if (this.circuit?.request) this.shadowedCircuit = { circuit: this.circuit, provenance: this.circuitProvenance, pairs: this.circuitPairs };
    this.circuit = c;
    this.circuitProvenance = null;
    this.circuitPairs = null;
    this.circuitView = null;
    this.circuitError = null;
    this.tab = 'circuit';
  }

  private onCircuitDone(d: EventPayload<'job:done'>) {
    if (d.state === 'succeeded' && d.circuit) {
      this.setCircuit(d.circuit, d.circuit.provenance ?? null, this.jobCircuitPairs);
      this.circuitError = null;
    } else if (d.state === 'cancelled') {
      this.notice = 'The circuit job was cancelled.';
    } else {
      this.circuitError = d.error?.message ?? 'the circuit job failed';
    }
  }

  // ---- projects ----

  /** The run panel's settings in the project's terms. */
  currentSettings(): ProjectSettings {
    return settingsOf(this.runPanel());
  }

  /** The run panel's choices as they stand. */
  private runPanel(): RunPanel & { kinds: KindName[] } {
    return {
      direction: this.direction,
      metric: this.metric,
      kinds: $state.snapshot(this.runKinds),
      method: this.method,
      verifyK: this.verifyK,
      prependBos: this.prependBos,
      qkFix: this.qkFix,
      gradDrop: this.gradDrop,
      rankBy: this.rankBy,
      recallK: this.recallK,
    };
  }

  private markSaved(): void {
    this.savedSignature = this.signature;
  }

  /** The project as it would be saved now. */
  doc(): ProjectDoc {
    if (!this.model) throw new Error('Load a model first: a project records the model it uses.');
    const stale = !!this.result && this.resultPairsVersion !== this.pairsVersion;
    const withResult = !!this.result && !!this.resultSettings && !!this.resultPairs && !!this.result.tokens;
    // A project file holds only whole pairs; pairs still being typed are kept as draft pairs in the
    // view, which the editor reopens with.
    const editing = $state.snapshot(this.pairs);
    const unfinished = !withResult && editing.some((p) => !isWholePair(p));
    const view: ViewState = {
      theme: this.theme,
      tab: this.tab,
      heatmapKind: this.heatmapKind,
      selected: selectionToView(this.selection),
      run: this.runPanel(),
      ...(this.scatterQk ? {} : { scatterQk: false }),
      selectedPair: this.selected,
      table: $state.snapshot(this.tableView),
      ...(this.viewsShare === null ? {} : { viewsShare: this.viewsShare }),
      ...(this.circuitView ? { circuit: $state.snapshot(this.circuitView) } : {}),
      ...(stale || unfinished ? { draftPairs: editing } : {}),
    };
    const pairs = withResult ? this.resultPairs! : editing.filter(isWholePair);
    return {
      pairs,
      settings: withResult ? this.resultSettings! : this.currentSettings(),
      // Results belong to the model that computed them, whichever is loaded now.
      modelDir: withResult && this.resultModelDir ? this.resultModelDir : this.model.dir,
      result: withResult ? this.result : null,
      provenance: withResult ? this.provenance : null,
      view: viewOf(view),
      ...this.circuitFor(pairs),
    };
  }

  /**
   * The circuit to save with `pairs`: a project file has one pair set, and its circuit must have
   * been computed on it (`patchbench run --save` recomputes it on those pairs). A circuit of other
   * pairs (the pairs were edited after the patching run, and the circuit ran on the edit) is left
   * out, and `circuitNotSaved` says so after the save.
   */
  private circuitFor(pairs: PromptPair[]): Pick<ProjectDoc, 'circuit' | 'circuitProvenance'> {
    const c = this.circuit && !this.circuit.request && this.shadowedCircuit ? this.shadowedCircuit : { circuit: this.circuit, provenance: this.circuitProvenance, pairs: this.circuitPairs };
    if (!c.circuit) return {};
    if (c.pairs && JSON.stringify(c.pairs) !== JSON.stringify(pairs)) return {};
    return { circuit: c.circuit, circuitProvenance: c.provenance };
  }

  /** Why the circuit is not in what Save writes (null: it is, or there is none). */
  get circuitNotSaved(): string | null {
    if (!this.circuit || !this.model) return null;
    if (!this.circuit.request) {
      return this.shadowedCircuit
        ? 'The circuit shown was read from a file that does not say how it was computed: the project keeps the circuit it had.'
        : 'The circuit was read from a file that does not say how it was computed, so it is not saved with the project.';
    }
    const saved = this.doc();
    if (!saved.circuit) return 'The circuit was computed on other pairs than the results the project saves, so it is not saved; run the circuit again on the saved pairs to keep it.';
    return null;
  }

  /** Asks what to do with unsaved changes before `action`; true when it may go ahead. */
  async confirmDiscard(action: string): Promise<boolean> {
    if (!this.dirty) return true;
    const choice = await new Promise<'save' | 'discard' | 'cancel'>((resolve) => (this.dialog = { kind: 'unsaved', action, resolve }));
    this.dialog = null;
    if (choice === 'cancel') return false;
    if (choice === 'discard') {
      void this.call('project:autosave', { projectPath: this.project.path, doc: null }).catch(() => {});
      this.lastAutosaved = ''; // if the next step is cancelled, autosaving resumes
      return true;
    }
    return this.save();
  }

  async newProject(): Promise<void> {
    if (!(await this.confirmDiscard('start a new project'))) return;
    this.pairs = [{ clean: '', corrupted: '', answer: '', wrong: '' }];
    this.showResult(null, false);
    this.resultSettings = this.resultPairs = this.provenance = null;
    this.setCircuit(null);
    this.selection = EMPTY_SELECTION;
    this.project = { path: null, name: 'Untitled' };
    this.modelNotice = null;
    this.projectWarnings = null;
    this.tab = 'pairs';
    this.select(0);
    this.retokenize();
    this.markSaved();
  }

  /** File → Open: the desktop's native dialog, or the browser's own list of files and a path field. */
  async openProject(): Promise<void> {
    if (!(await this.confirmDiscard('open another project'))) return;
    if (this.host === 'electron') {
      const path = await this.call('project:pickOpen', undefined);
      if (path) await this.openPath(path);
      return;
    }
    this.projectFiles = await this.call('project:files', undefined).catch(() => this.projectFiles);
    this.dialog = { kind: 'open' };
  }

  /**
   * Opens a project file; true when it opened. A problem is said in the open dialog when it is
   * showing, else in the notice bar (`quiet`: not at all, for the start-up attempt).
   */
  async openPath(path: string, o: { quiet?: boolean } = {}): Promise<boolean> {
    if (this.dialog?.kind === 'open') this.dialog = { kind: 'open', busy: true };
    let p: OpenedProject;
    try {
      p = await this.call('project:open', { path });
    } catch (e) {
      const message = messageOf(e);
      if (this.dialog?.kind === 'open') this.dialog = { kind: 'open', error: message };
      else if (!o.quiet) this.notice = message;
      return false;
    }
    this.applyProject(p);
    if (this.dialog?.kind === 'open') this.dialog = null;
    return true;
  }

  private applyProject(p: OpenedProject): void {
    const view = readView(p.view);
    if (p.loaded) {
      this.model = p.loaded;
      this.modelError = null;
    }
    this.modelNotice = p.model.status === 'ok' ? null : p.model.message;
    // The host names the file in each warning; the banner names it once.
    const warnings = p.warnings ?? [];
    this.projectWarnings = warnings.length ? { file: p.file, messages: warnings.map((w) => (w.startsWith(`${p.file}: `) ? w.slice(p.file.length + 2) : w)) } : null;
    // The run panel: as the user left it (view state), else the project's settings.
    const run = view.run ?? { ...p.settings, verifyK: p.settings.verifyTop ?? this.verifyK, method: runMethodOf(p.settings) };
    this.direction = run.direction;
    this.metric = run.metric;
    this.kinds = [...run.kinds];
    this.method = run.method;
    this.verifyK = run.verifyK;
    this.qkFix = !!run.qkFix;
    this.gradDrop = !!run.gradDrop;
    this.rankBy = run.rankBy ?? '';
    this.recallK = run.recallK ?? 10;
    this.scatterQk = view.scatterQk !== false;
    this.prependBos = run.prependBos;
    this.pairs = p.pairs.map((x) => ({ ...x }));
    this.retokenize();
    this.resultPairsVersion = this.pairsVersion;
    this.showResult(p.result, false);
    this.resultVersion++;
    this.resultSettings = p.result ? p.settings : null;
    this.resultPairs = p.result ? p.pairs : null;
    this.resultModelDir = p.model.dir;
    this.provenance = p.provenance;
    this.setCircuit(p.circuit ?? null, p.circuitProvenance ?? null, p.pairs);
    this.circuitView = view.circuit ?? null;
    const req = p.circuit?.request;
    if (req) this.circuitForm = { method: req.method, steps: req.steps, extraction: req.extraction, n: req.n, curve: req.curve };
    if (view.draftPairs) {
      this.pairs = view.draftPairs;
      this.retokenize();
    }
    this.select(Math.min(view.selectedPair ?? 0, this.pairs.length - 1));
    this.selection = selectionFromView(view.selected, p.result);
    if (view.theme) this.setTheme(view.theme);
    this.tableView = view.table ?? defaultTableView(p.result);
    this.viewsShare = view.viewsShare ?? null;
    this.heatmapKind = view.heatmapKind && p.result && heatmapKinds(p.result).includes(view.heatmapKind) ? view.heatmapKind : this.heatmapKind;
    this.tab = view.tab ?? (p.result ? (scatterFacets(p.result).length ? 'scatter' : 'heatmap') : 'pairs');
    this.project = { path: p.path, name: p.name };
    this.markSaved();
    // A recovered autosave holds changes that are not in the project file yet.
    if (p.recovered) this.savedSignature = '';
    const notes = [p.recovered ? `Recovered ${p.path ?? 'an untitled project'} from its autosave; save it to keep the changes.` : null, p.migrated ? `${p.file} was written by an older Patchbench (schema ${p.schemaVersion}); saving writes the current format.` : null].filter(Boolean);
    this.notice = notes.length ? notes.join(' ') : null;
  }

  /** File → Save; true when the project was saved. */
  async save(): Promise<boolean> {
    if (!this.project.path) return this.saveAs();
    return this.saveTo(this.project.path);
  }

  /** File → Save As: the desktop's native dialog, or the browser's path field. */
  async saveAs(): Promise<boolean> {
    const suggested = `${this.project.name === 'Untitled' ? 'project' : this.project.name}.patchbench`;
    if (this.host === 'electron') {
      const path = await this.call('project:pickSave', { suggestedName: suggested }).catch((e) => {
        this.notice = messageOf(e);
        return null;
      });
      return path ? this.saveTo(path) : false;
    }
    this.projectFiles = await this.call('project:files', undefined).catch(() => this.projectFiles);
    return new Promise<boolean>((resolve) => {
      this.saveAsResolve = resolve;
      this.dialog = { kind: 'saveAs' };
    });
  }

  private saveAsResolve: ((saved: boolean) => void) | null = null;

  /** The browser's Save As dialog answered (a path, or null for Cancel). */
  async saveAsAnswer(path: string | null): Promise<void> {
    const done = (saved: boolean) => {
      this.saveAsResolve?.(saved);
      this.saveAsResolve = null;
    };
    if (path === null) {
      this.dialog = null;
      return done(false);
    }
    this.dialog = { kind: 'saveAs', busy: true };
    const error = await this.write(path);
    if (error) this.dialog = { kind: 'saveAs', error };
    else {
      this.dialog = null;
      done(true);
    }
  }

  private async saveTo(path: string): Promise<boolean> {
    const error = await this.write(path);
    if (error) this.notice = error;
    return !error;
  }

  /** Writes the project; null when saved, else the reason in words. */
  private async write(path: string): Promise<string | null> {
    try {
      const doc = this.doc();
      const signature = this.signature;
      const left = this.circuitNotSaved;
      const r = await this.call('project:save', { path, doc });
      this.project = { path: r.path, name: r.name };
      this.savedSignature = signature;
      this.notice = `Saved ${r.path}${left ? `. ${left}` : ''}`;
      return null;
    } catch (e) {
      return `The project could not be saved: ${messageOf(e)}`;
    }
  }

  /** Every AUTOSAVE_MS while there are unsaved changes: a recovery copy, in case the app crashes. */
  async autosave(): Promise<void> {
    if (!this.dirty || !this.model || this.job || this.signature === this.lastAutosaved) return;
    const signature = this.signature;
    try {
      await this.call('project:autosave', { projectPath: this.project.path, doc: this.doc() });
      this.lastAutosaved = signature;
    } catch {
      /* the next tick tries again */
    }
  }

  /** The start-up offer to recover autosaves: recover one (and drop the rest), or discard them all. */
  async recover(item: Recoverable | null): Promise<void> {
    const items = this.dialog?.kind === 'recover' ? this.dialog.items : [];
    this.dialog = null;
    if (item && !(await this.openPath(item.path))) return;
    for (const r of items) await this.call('project:discardRecovery', { path: r.path }).catch(() => {});
  }

  /** Tells the desktop window its title and whether closing would lose changes. */
  syncWindow(): void {
    if (typeof document !== 'undefined') document.title = this.title;
    void this.call('window:state', { title: this.title, dirty: this.dirty, projectPath: this.project.path }).catch(() => {});
  }

  // ---- menu ----

  async menu(command: MenuCommand, file?: OpenedFile, path?: string): Promise<void> {
    this.notice = null;
    try {
      switch (command) {
        case 'new':
          return await this.newProject();
        case 'open':
          if (path) {
            if (await this.confirmDiscard('open another project')) await this.openPath(path);
            return;
          }
          void file;
          return await this.openProject();
        case 'save':
          await this.save();
          return;
        case 'saveAs':
          await this.saveAs();
          return;
        case 'close':
          if (await this.confirmDiscard('close the window')) await this.call('window:close', undefined);
          return;
        case 'toggleTheme':
          this.setTheme(this.theme === 'dark' ? 'light' : 'dark');
          return;
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

const AUTOSAVE_MS = 30_000;

/** Every field filled in: what a project file stores as a pair. */
const isWholePair = (p: PromptPair) => !!(p.clean && p.corrupted && p.answer && p.wrong);

/** How many finished jobs the Jobs list keeps (as the host does). */
const FINISHED_SHOWN = 5;
export const isActive = (j: JobInfo) => j.state === 'queued' || j.state === 'running';

/** The job list with `j` added or updated: active jobs in the order they came, then the last few finished. */
function upsertJob(list: JobInfo[], j: JobInfo): JobInfo[] {
  const next = list.some((x) => x.jobId === j.jobId) ? list.map((x) => (x.jobId === j.jobId ? j : x)) : [...list, j];
  const finished = next.filter((x) => !isActive(x));
  const dropped = new Set(finished.slice(0, Math.max(0, finished.length - FINISHED_SHOWN)).map((x) => x.jobId));
  return next.filter((x) => !dropped.has(x.jobId));
}
