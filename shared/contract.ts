/**
 * The one IPC contract between the workbench UI and its host (the Electron main process, or the
 * browser host over a WebSocket). Every request channel (`domain:verb`) has a request and a
 * response schema; every event has a payload schema. The host validates each request against it,
 * the preload derives its API from `CHANNELS`, and the renderer's types come from it, so a channel
 * is declared here once and nowhere else.
 *
 * Names of kinds, metrics and tasks are repeated from the engine (which the renderer must not
 * import: it pulls in TensorFlow.js); test/host/contract.test.ts checks they stay equal.
 */
import { s, type Infer, type Schema } from './schema.ts';

export const KIND_NAMES = [
  'resid_pre',
  'resid_mid',
  'resid_post',
  'attn_out',
  'mlp_out',
  'head_z',
  'head_q',
  'head_k',
  'head_v',
  'head_z_pos',
  'head_pattern',
  'neuron',
] as const;
export type KindName = (typeof KIND_NAMES)[number];
export const METRIC_NAMES = ['logit-diff', 'prob-diff', 'logprob'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];
export const TASK_NAMES = ['ioi', 'induction', 'pronoun'] as const;
export const IOI_CORRUPTION_NAMES = ['subject-swap', 'three-names'] as const;
export const DIRECTIONS = ['denoising', 'noising'] as const;
export const METHODS = ['attribution', 'activation', 'both'] as const;
/** AtP* ranking scores (Kramár et al. 2024): mean over pairs of a per-pair magnitude, named as in the JSON (`score_atp`, …) */
export const SCORE_NAMES = ['atp', 'atp_qk', 'graddrop', 'atp_star'] as const;
/** Orders "Verify top K" can follow: |the estimate| (attribution_qk for head_q/head_k with the QK fix), or a score */
export const RANKINGS = ['attribution', ...SCORE_NAMES] as const;
export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Error codes: the engine's own, plus what the host adds. */
export const ERROR_CODES = [
  'bad-model',
  'bad-tokenizer',
  'bad-input',
  'bad-project',
  'cancelled',
  'internal',
  'bad-request', // a request that does not match this contract
  'no-model', // a channel that needs a loaded model was called before one was loaded
  'engine-crashed', // the engine worker exited while answering
  'unsupported', // not available in this host (e.g. native dialogs in the browser host)
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

const text = (max = 100_000) => s.string({ max });
const path = s.string({ min: 1, max: 4096 });

export const promptPair = s.object({
  clean: text(20_000),
  corrupted: text(20_000),
  answer: text(1000),
  wrong: text(1000),
});
export type PromptPair = Infer<typeof promptPair>;
const pairList = s.array(promptPair, { min: 1, max: 10_000 });

export const modelEntry = s.object({
  name: s.string(),
  dir: s.string(),
  source: s.enum(['bundled', 'added', 'hf-cache'] as const),
  modelType: s.optional(s.string()),
  problem: s.optional(s.string()),
});
export type ModelEntry = Infer<typeof modelEntry>;

export const modelInfo = s.object({
  dir: s.string(),
  name: s.string(),
  /** the family: GPT-2, Llama, Mistral, Qwen2, GPT-NeoX */
  architecture: s.string(),
  /** the component kinds this model has (resid_mid is absent under parallel attention) */
  kinds: s.optional(s.array(s.enum(KIND_NAMES))),
  nLayers: s.number({ int: true }),
  nHeads: s.number({ int: true }),
  /** key/value heads (fewer than nHeads under grouped-query attention); head_k and head_v are indexed by them */
  nKvHeads: s.optional(s.number({ int: true })),
  dModel: s.number({ int: true }),
  dHead: s.number({ int: true }),
  dMlp: s.number({ int: true }),
  dVocab: s.number({ int: true }),
  nCtx: s.number({ int: true }),
  paramCount: s.number({ int: true }),
  dtypes: s.array(s.string()),
  backend: s.string(),
  /** the token put in front of prompts unless BOS is turned off; null: the model has none */
  bos: s.nullable(s.object({ id: s.number({ int: true }), token: s.string(), from: s.string() })),
});
export type ModelInfo = Infer<typeof modelInfo>;

const tokenized = s.object({ ids: s.array(s.number({ int: true })), strings: s.array(s.string()) });
export type Tokenized = Infer<typeof tokenized>;

/** One pair as the editor shows it: each field's tokens, and what (if anything) is wrong with it. */
export const pairTokens = s.object({
  clean: tokenized,
  corrupted: tokenized,
  answer: tokenized,
  wrong: tokenized,
  /** the engine's sentence when this pair cannot be patched (lengths differ, answer not one token…) */
  problem: s.optional(s.string()),
});
export type PairTokens = Infer<typeof pairTokens>;

export const patchRequest = s.object({
  direction: s.enum(DIRECTIONS),
  metric: s.enum(METRIC_NAMES),
  kinds: s.array(s.enum(KIND_NAMES), { min: 1, max: KIND_NAMES.length }),
  method: s.enum(METHODS),
  /** also activation-patch the first K components per kind in the order of `rankBy` */
  verifyTop: s.optional(s.number({ int: true, min: 1, max: 100_000 })),
  /** AtP* QK fix for head_q/head_k */
  qkFix: s.optional(s.boolean()),
  /** AtP* GradDrop scores */
  gradDrop: s.optional(s.boolean()),
  rankBy: s.optional(s.enum(RANKINGS)),
  /** K of the cost-of-verified-recall curves (default 10) */
  recallK: s.optional(s.number({ int: true, min: 1, max: 100_000 })),
});
export type PatchRequest = Infer<typeof patchRequest>;

const summary = s.object({
  n: s.number({ int: true }),
  pearson: s.nullable(s.anyNumber()),
  spearman: s.nullable(s.anyNumber()),
  rmse: s.nullable(s.anyNumber()),
  outliers: s.array(s.object({ component: s.number({ int: true }), attribution: s.anyNumber(), activation: s.anyNumber() })),
});

/** The fraction of the true top-K found after each verification in a ranking's order, for k = 1..N. */
const recallCurve = s.object({
  k: s.number({ int: true, min: 1 }),
  curve: s.array(s.anyNumber()),
  verifications_to_all: s.number({ int: true, min: 0 }),
  auc: s.anyNumber(),
});
export type RecallCurve = Infer<typeof recallCurve>;
// one field per SCORE_NAMES entry
const optionalF32 = s.optional(s.float32());
const optionalRecall = s.optional(recallCurve);

/** One kind's results as columns: flat Float32Arrays, row-major over `shape` (layer first). */
export const kindResult = s.object({
  kind: s.enum(KIND_NAMES),
  /** names of the index dimensions: 'layer' then the kind's own ('pos', 'head', 'neuron') */
  dims: s.array(s.enum(['layer', 'pos', 'head', 'neuron'] as const)),
  shape: s.array(s.number({ int: true })),
  attribution: s.optional(s.float32()),
  /** NaN where not computed */
  activation: s.optional(s.float32()),
  summary: s.optional(summary),
  verification: s.optional(
    s.object({
      k: s.number({ int: true }),
      checked: s.array(s.number({ int: true })),
      pearson: s.nullable(s.anyNumber()),
      recovered: s.nullable(s.number({ int: true })),
      /** the ranking whose order was verified (absent: attribution) */
      ranking: s.optional(s.enum(RANKINGS)),
    }),
  ),
  /** head_q/head_k with the QK fix: the estimate from the exactly recomputed pattern */
  attributionQk: s.optional(s.float32()),
  summaryQk: s.optional(summary),
  /** non-negative ranking scores, those the run's options computed */
  scores: s.optional(s.object({ atp: optionalF32, atp_qk: optionalF32, graddrop: optionalF32, atp_star: optionalF32 })),
  /** cost of verified recall per score, when activation patching was exhaustive */
  recall: s.optional(s.object({ atp: optionalRecall, atp_qk: optionalRecall, graddrop: optionalRecall, atp_star: optionalRecall })),
});
export type KindResult = Infer<typeof kindResult>;

export const patchingResult = s.object({
  direction: s.enum(DIRECTIONS),
  metric: s.object({ name: s.enum(METRIC_NAMES), clean: s.anyNumber(), corrupted: s.anyNumber() }),
  /** the first pair's clean and corrupted tokens, to label positions */
  positions: s.object({ clean: s.array(s.string()), corrupted: s.array(s.string()) }),
  pairCount: s.number({ int: true }),
  kinds: s.array(kindResult),
  backend: s.string(),
  seconds: s.anyNumber(),
  /** threads the patching ran on (more than one for large models: each thread its own copy of the weights) */
  threads: s.optional(s.number({ int: true, min: 1 })),
  /** every pair's token ids (what a project file stores with the results) */
  tokens: s.optional(
    s.object({
      clean: s.array(s.array(s.number({ int: true }))),
      corrupted: s.array(s.array(s.number({ int: true }))),
      answer: s.array(s.number({ int: true })),
      wrong: s.array(s.number({ int: true })),
    }),
  ),
});
export type PatchingResult = Infer<typeof patchingResult>;

// ---- circuits (edge attribution patching) ----

export const RANKING_NAMES = ['eap', 'eap_ig', 'random'] as const;
export type RankingName = (typeof RANKING_NAMES)[number];

/** What a circuit job computes: `patchbench circuit`'s options (shared/contract's names, the CLI's meanings). */
export const circuitRequest = s.object({
  direction: s.enum(DIRECTIONS),
  metric: s.enum(METRIC_NAMES),
  method: s.enum(['eap', 'eap-ig'] as const),
  /** EAP-IG's steps m (ignored by EAP) */
  steps: s.number({ int: true, min: 1, max: 100 }),
  /** top-n: the n edges of largest |score|, then pruned; greedy: grown from the logits to n edges, then pruned */
  extraction: s.enum(['top-n', 'greedy'] as const),
  n: s.number({ int: true, min: 0 }),
  /** also the faithfulness curve against the number of edges, with random circuits as the baseline */
  curve: s.boolean(),
});
export type CircuitRequest = Infer<typeof circuitRequest>;

const provenance = s.object({ appVersion: s.nullable(s.string()), backend: s.string(), date: s.string(), seconds: s.anyNumber() });
export type Provenance = Infer<typeof provenance>;

/**
 * Edge scores and a circuit, in the edge order of shared/circuit-graph.ts for `graph`: one value
 * per edge in `eap`, `eapIg` and `circuit` (1 in the circuit, 0 out).
 */
export const circuitResult = s.object({
  graph: s.object({
    nLayers: s.number({ int: true, min: 1, max: 1000 }),
    nHeads: s.number({ int: true, min: 1, max: 1000 }),
    nKvHeads: s.number({ int: true, min: 1, max: 1000 }),
    parallelAttnMlp: s.boolean(),
  }),
  eap: s.float32(),
  eapIg: s.optional(s.float32()),
  circuit: s.float32(),
  faithfulness: s.array(s.object({ n: s.number({ int: true, min: 0 }), ranking: s.enum(RANKING_NAMES), faithfulness: s.anyNumber() })),
  /** how it was computed (absent for a circuit read from a `patchbench circuit --out` file) */
  request: s.optional(circuitRequest),
  metric: s.optional(s.object({ clean: s.anyNumber(), corrupted: s.anyNumber() })),
  /** where and when it was computed (a circuit job's result and a project's circuit carry it; a read-in file does not) */
  provenance: s.optional(provenance),
  /** the file it was read from, for the view's caption */
  source: s.optional(s.string()),
});
export type CircuitResult = Infer<typeof circuitResult>;

// ---- project files (*.patchbench) ----

export const MODEL_STATUSES = ['ok', 'missing', 'changed', 'unverified'] as const;
export type ModelStatus = (typeof MODEL_STATUSES)[number];

export const projectSettings = s.object({
  direction: s.enum(DIRECTIONS),
  metric: s.enum(METRIC_NAMES),
  kinds: s.array(s.enum(KIND_NAMES), { max: KIND_NAMES.length }),
  method: s.enum(METHODS),
  verifyTop: s.optional(s.number({ int: true, min: 1, max: 100_000 })),
  qkFix: s.optional(s.boolean()),
  gradDrop: s.optional(s.boolean()),
  rankBy: s.optional(s.enum(RANKINGS)),
  recallK: s.optional(s.number({ int: true, min: 1, max: 100_000 })),
  prependBos: s.boolean(),
});
export type ProjectSettings = Infer<typeof projectSettings>;

/** A project's pairs: at most as many as one job runs (the file format itself has no limit). */
export const projectPairs = s.array(promptPair, { max: 10_000 });
/** The longest view state a project saves, as JSON text. */
export const VIEW_MAX_CHARS = 50_000_000;
/**
 * The longest view state a project opens with: below VIEW_MAX_CHARS by a margin for the defaults the
 * UI fills in (a few hundred characters), so that a view that opened can always be saved again.
 */
export const OPENED_VIEW_MAX_CHARS = VIEW_MAX_CHARS - 1_000_000;

/** What a project holds, alike whether it is saved (projectDoc) or opened (openedProject). */
const projectContent = {
  pairs: projectPairs,
  /** the settings that produced `result` (or, without a result, the run panel's) */
  settings: projectSettings,
  /** null: not run yet (or the pairs changed since) */
  result: s.nullable(patchingResult),
  /** a circuit computed with the project (saved with it when it carries its request) */
  circuit: s.optional(s.nullable(circuitResult)),
  /** the circuit's provenance, kept as it was */
  circuitProvenance: s.optional(s.nullable(provenance)),
};

/** A project as the UI holds it; the host turns it into the file format and back. */
export const projectDoc = s.object({
  ...projectContent,
  /** the model folder the project uses */
  modelDir: path,
  /** when `result` came from a saved project: its provenance, kept as it was */
  provenance: s.optional(s.nullable(provenance)),
  /** the view state: selection, tab, theme, table sort, run panel… (kept apart from results) */
  view: s.jsonObject({ maxBytes: VIEW_MAX_CHARS }),
});
export type ProjectDoc = Infer<typeof projectDoc>;

/**
 * A project as opened. Its limits are those of projectDoc or stricter (the host checks them on
 * opening), so whatever opens can be saved back.
 */
export const openedProject = s.object({
  /** the file read */
  file: s.string(),
  /** where Save writes: the project file; null for an untitled project (an example, or a recovered untitled one) */
  path: s.nullable(s.string()),
  name: s.string(),
  /** opened from an autosave (its changes are not saved in `path` yet) */
  recovered: s.boolean(),
  /** opened from the bundled examples (a copy: Save asks where) */
  example: s.boolean(),
  /** the file's schema version, and whether it was migrated to the current one */
  schemaVersion: s.number({ int: true }),
  migrated: s.boolean(),
  ...projectContent,
  provenance: s.nullable(provenance),
  view: s.jsonObject({ maxBytes: OPENED_VIEW_MAX_CHARS }),
  /** whether the project's model is there and unchanged, in words */
  model: s.object({ name: s.string(), dir: path, status: s.enum(MODEL_STATUSES), message: s.string() }),
  /** the model now loaded in the engine (the project's, when it was found), or null */
  loaded: s.nullable(modelInfo),
  /** what was odd but readable, each naming the file: unknown (misspelled?) keys, ignored; a view state too large to keep */
  warnings: s.array(s.string()),
});
export type OpenedProject = Infer<typeof openedProject>;

/** What saving an opened project back, unchanged, sends: the host checks every opened project against it. */
export function savedBack(p: OpenedProject): ProjectDoc {
  return {
    pairs: p.pairs,
    settings: p.settings,
    modelDir: p.model.dir,
    result: p.result,
    provenance: p.provenance,
    view: p.view,
    circuit: p.circuit ?? null,
    circuitProvenance: p.circuitProvenance ?? null,
  };
}

const projectFileEntry = s.object({ path: s.string(), name: s.string(), exists: s.boolean() });
export type ProjectFileEntry = Infer<typeof projectFileEntry>;

export const recoverable = s.object({
  path: s.string(),
  projectPath: s.nullable(s.string()),
  date: s.string(),
  newer: s.boolean(),
  problem: s.optional(s.string()),
});
export type Recoverable = Infer<typeof recoverable>;

const errorInfo = s.object({ code: s.enum(ERROR_CODES), message: s.string() });
export type ErrorInfo = Infer<typeof errorInfo>;

export const JOB_KINDS = ['patching', 'circuit'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const jobInfo = s.object({
  jobId: s.string(),
  kind: s.enum(JOB_KINDS),
  /** what the job computes, in a few words for the job list: "attribution · 3 kinds · 64 pairs" */
  label: s.string(),
  state: s.enum(JOB_STATES),
  phase: s.string(),
  done: s.number(),
  total: s.number(),
  /** seconds since the job started running (0 while queued); for a finished job, how long it ran */
  elapsed: s.number(),
  /** a failed (or cancelled) job: why */
  error: s.optional(errorInfo),
});
export type JobInfo = Infer<typeof jobInfo>;

const fileFilter = s.object({ name: s.string(), extensions: s.array(s.string()) });

/** Request/response channels. `needsModel` ones answer 'no-model' until `model:load` succeeded. */
export const CHANNELS = {
  'app:info': {
    request: s.none(),
    response: s.object({
      version: s.string(),
      host: s.enum(['electron', 'web'] as const),
      versions: s.object({ node: s.string(), electron: s.optional(s.string()), chrome: s.optional(s.string()) }),
      platform: s.string(),
      /** the compute backend, once the engine has started */
      backend: s.nullable(s.string()),
      /** the model folder the app opens first */
      defaultModelDir: s.string(),
    }),
  },
  'engine:catalog': {
    request: s.none(),
    response: s.object({
      kinds: s.array(s.object({ name: s.enum(KIND_NAMES), what: s.string(), dims: s.array(s.string()) })),
      metrics: s.array(s.object({ name: s.enum(METRIC_NAMES), explanation: s.string() })),
      tasks: s.array(s.object({ name: s.enum(TASK_NAMES), title: s.string(), description: s.string() })),
    }),
  },
  'models:list': { request: s.none(), response: s.array(modelEntry) },
  'model:load': {
    request: s.object({ dir: path, /** add the folder to the list of added models */ remember: s.optional(s.boolean()) }),
    response: modelInfo,
  },
  'model:current': { request: s.none(), response: s.nullable(modelInfo) },
  'model:predict': {
    request: s.object({ prompt: text(20_000), top: s.optional(s.number({ int: true, min: 1, max: 100 })), prependBos: s.optional(s.boolean()) }),
    response: s.object({
      tokens: tokenized,
      top: s.array(s.object({ id: s.number({ int: true }), token: s.string(), logit: s.anyNumber(), prob: s.anyNumber() })),
    }),
  },
  'pairs:generate': {
    request: s.object({
      task: s.enum(TASK_NAMES),
      n: s.number({ int: true, min: 1, max: 1000 }),
      seed: s.number({ int: true, min: 0, max: 2 ** 31 - 1 }),
      corruption: s.optional(s.enum(IOI_CORRUPTION_NAMES)),
    }),
    response: s.array(promptPair),
  },
  'pairs:tokenize': {
    request: s.object({ pairs: s.array(promptPair, { max: 10_000 }), prependBos: s.optional(s.boolean()) }),
    /** per pair; `problem` is the first reason the whole list cannot be run (e.g. pairs of different lengths) */
    response: s.object({ pairs: s.array(pairTokens), problem: s.optional(s.string()) }),
  },
  'pairs:baseline': {
    request: s.object({ pairs: pairList, metric: s.enum(METRIC_NAMES), prependBos: s.optional(s.boolean()) }),
    response: s.object({ clean: s.anyNumber(), corrupted: s.anyNumber() }),
  },
  'pairs:parseJsonl': {
    request: s.object({ text: text(50_000_000), source: s.string({ max: 4096 }) }),
    response: s.array(promptPair),
  },
  /** Reads a `patchbench circuit --out` JSON file's text; errors name the field. */
  'circuit:parse': {
    request: s.object({ text: text(500_000_000), source: s.string({ max: 4096 }) }),
    response: circuitResult,
  },
  'job:start': {
    request: s.object({ pairs: pairList, prependBos: s.optional(s.boolean()), request: patchRequest }),
    response: s.object({ jobId: s.string() }),
  },
  /** A circuit job (edge attribution patching) on the same queue as patching jobs; its result comes in `job:done`'s `circuit`. */
  'circuit:start': {
    request: s.object({ pairs: pairList, prependBos: s.optional(s.boolean()), request: circuitRequest }),
    response: s.object({ jobId: s.string() }),
  },
  'job:cancel': { request: s.object({ jobId: s.string({ min: 1, max: 100 }) }), response: s.object({ state: s.enum(JOB_STATES) }) },
  /** the jobs the host has, from every page and window: queued and running ones, then the last few finished (newest last) */
  'job:list': { request: s.none(), response: s.array(jobInfo) },
  /** Native dialogs: the Electron host only; the browser transport downloads and uploads instead. */
  'file:save': {
    request: s.object({
      title: s.string({ max: 200 }),
      suggestedName: s.string({ max: 255 }),
      text: text(500_000_000),
      filters: s.array(fileFilter),
      /** 'base64' for binary files (a chart's PNG): `text` is then the bytes in base64 */
      encoding: s.optional(s.enum(['utf8', 'base64'] as const)),
    }),
    /** the path written, or null when the user cancelled */
    response: s.nullable(s.string()),
  },
  'file:open': {
    request: s.object({ title: s.string({ max: 200 }), filters: s.array(fileFilter) }),
    response: s.nullable(s.object({ path: s.string(), name: s.string(), text: s.string() })),
  },
  'dialog:pickFolder': { request: s.object({ title: s.string({ max: 200 }) }), response: s.nullable(s.string()) },

  /** Project files. Paths must name `.patchbench` files; the host reads and writes them. */
  'project:open': { request: s.object({ path }), response: openedProject },
  'project:save': {
    request: s.object({ path, doc: projectDoc }),
    response: s.object({ path: s.string(), name: s.string() }),
  },
  /** Writes the recovery copy of an open project (null `projectPath`: untitled); `doc: null` deletes it. */
  'project:autosave': {
    request: s.object({ projectPath: s.nullable(path), doc: s.nullable(projectDoc) }),
    response: s.nullable(s.string()),
  },
  /** Autosaves a crash left behind (call at startup), newest first. */
  'project:recovery': { request: s.none(), response: s.array(recoverable) },
  'project:discardRecovery': { request: s.object({ path }), response: s.none() },
  /** Recent projects, the bundled examples, where new projects go, and whether any project was ever open. */
  'project:files': {
    request: s.none(),
    response: s.object({
      recent: s.array(projectFileEntry),
      examples: s.array(projectFileEntry),
      defaultDir: s.string(),
      /** the project open when the app last closed (null: none) */
      last: s.nullable(s.string()),
      /** no project was ever open: the app opens the bundled example */
      firstStart: s.boolean(),
      /** a file the app was started to open (desktop: command line, double-click); reported once */
      startup: s.nullable(s.string()),
    }),
  },
  /** Native Open/Save As dialogs for project files (desktop only; the browser shows its own). */
  'project:pickOpen': { request: s.none(), response: s.nullable(s.string()) },
  'project:pickSave': { request: s.object({ suggestedName: s.string({ max: 255 }) }), response: s.nullable(s.string()) },
  /** The window's title and whether it has unsaved changes (the desktop app asks before closing). */
  'window:state': { request: s.object({ title: s.string({ max: 500 }), dirty: s.boolean(), projectPath: s.nullable(s.string()) }), response: s.none() },
  /** Closes the window now (after the UI asked about unsaved changes). */
  'window:close': { request: s.none(), response: s.none() },
} as const satisfies Record<string, { request: Schema<unknown>; response: Schema<unknown> }>;

export type Channel = keyof typeof CHANNELS;
export type Req<C extends Channel> = Infer<(typeof CHANNELS)[C]['request']>;
export type Res<C extends Channel> = Infer<(typeof CHANNELS)[C]['response']>;
export const CHANNEL_NAMES = Object.keys(CHANNELS) as Channel[];

export const MENU_COMMANDS = ['new', 'open', 'save', 'saveAs', 'exportCsv', 'openModelFolder', 'close', 'toggleTheme'] as const;
export type MenuCommand = (typeof MENU_COMMANDS)[number];

/** Events from the host to the UI. */
export const EVENTS = {
  'job:progress': { payload: jobInfo },
  'job:done': {
    payload: s.object({
      jobId: s.string(),
      state: s.enum(['succeeded', 'failed', 'cancelled'] as const),
      elapsed: s.number(),
      /** a patching job's result */
      result: s.optional(patchingResult),
      /** a circuit job's result, with its request, metric and provenance (so a project saves it) */
      circuit: s.optional(circuitResult),
      error: s.optional(errorInfo),
    }),
  },
  /** The engine worker's life: 'crashed' is followed by 'ready' once it has restarted. */
  'engine:status': {
    payload: s.object({ state: s.enum(['starting', 'ready', 'crashed'] as const), backend: s.nullable(s.string()), message: s.optional(s.string()) }),
  },
  /**
   * A menu item chosen in the Electron app. For Open Recent the main process reads the file itself
   * and sends it along, so the renderer never names a path for the main process to read.
   */
  'menu:command': {
    payload: s.object({
      command: s.enum(MENU_COMMANDS),
      file: s.optional(s.object({ path: s.string(), name: s.string(), text: s.string() })),
      /** Open Recent: the project file to open */
      path: s.optional(s.string()),
    }),
  },
} as const satisfies Record<string, { payload: Schema<unknown> }>;

export type EventName = keyof typeof EVENTS;
export type EventPayload<E extends EventName> = Infer<(typeof EVENTS)[E]['payload']>;
export const EVENT_NAMES = Object.keys(EVENTS) as EventName[];

/** Every answer crossing the boundary: errors travel as data, since Electron's invoke drops custom error fields. */
export type Answer<T> = { ok: true; value: T } | { ok: false; error: ErrorInfo };

export function isChannel(x: unknown): x is Channel {
  return typeof x === 'string' && Object.hasOwn(CHANNELS, x);
}
export function isEventName(x: unknown): x is EventName {
  return typeof x === 'string' && Object.hasOwn(EVENTS, x);
}

/** What both transports offer the renderer: one typed call per channel, and event subscriptions. */
export interface Transport {
  readonly host: 'electron' | 'web';
  invoke<C extends Channel>(channel: C, request: Req<C>): Promise<Answer<Res<C>>>;
  /** Returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
}
