/**
 * The `.patchbench` file: one file holding a whole project.
 *
 *   bytes 0..10   magic `PATCHBENCH\0` (11 bytes)
 *   next 8        header length N, unsigned 64-bit little-endian
 *   next N        header: UTF-8 JSON object, padded with spaces so the arrays start on an 8-byte boundary
 *   rest          arrays: raw little-endian float32 values, back to back, nothing after the last one
 *
 * The body after the magic is laid out like safetensors. Header (schemaVersion 2):
 *
 *   schemaVersion  2
 *   pairs          [{clean, corrupted, answer, wrong}]
 *   settings       {direction, metric, kinds, method, verifyTop?, qkFix?, gradDrop?, rankBy?, recallK?, prependBos}
 *   model          {path, name, fingerprint, files: [{name, bytes}], dims: {nLayers, nHeads, nKvHeads?, dModel, dMlp, dVocab}, bundled?}
 *   provenance     {appVersion, backend, date, seconds} or null (no results yet)
 *   results        {metric: {clean, corrupted}, tokens: {clean, corrupted, answer, wrong},
 *                   kinds: {KIND: {shape, attribution?: ARRAY, attributionQk?: ARRAY, scores?: {atp?, atp_qk?, graddrop?, atp_star?: ARRAY},
 *                                activation?: ARRAY, summary?, verification?}}} or null
 *                  (the AtP* fields and settings are optional: files written before them open unchanged; the
 *                  QK-fixed agreement summary and the recall curves are derived again on opening)
 *   view           free-form JSON object (the app's view state)
 *   circuit?       edge scores, a circuit and its faithfulness curve (circuit.ts)
 *   autosave?      {projectPath, date} (autosave files only)
 *
 * ARRAY is {dtype: "F32", data_offsets: [begin, end], crc32}: a byte range of the array section, as
 * in safetensors, and the CRC-32 of those bytes (checked on opening; files written before it existed
 * have none). Values are bit-for-bit the engine's Float32Arrays, NaN (not computed) included.
 * Unknown keys are ignored with a warning (Decoded.warnings).
 * `model.path` is absolute, or relative to the project file's folder.
 *
 * Decoding validates everything and names what is wrong; older schema versions are migrated one
 * step at a time (migrate.ts), validated before and after; newer ones are refused.
 */
import { endianness } from 'node:os';
import { crc32 } from 'node:zlib';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { PatchbenchError } from '../errors.ts';
import { METRICS, type MetricName } from '../metrics.ts';
import { KIND_SPECS, KINDS, type Kind } from '../patching/components.ts';
import { DEFAULT_RECALL_K, RANKINGS, type KindResult, type Method, type Verification } from '../patching/index.ts';
import { isQkKind, SCORE_NAMES } from '../patching/attribution.ts';
import { verifiedRecall } from '../patching/recall.ts';
import { summarize } from '../patching/summary.ts';
import type { PromptPair } from '../patching/pairs.ts';
import type { Direction, TokenizedPairs } from '../patching/runs.ts';
import type { AgreementSummary } from '../patching/summary.ts';
import { Fields, type Fail } from './check.ts';
import { MIGRATIONS } from './migrate.ts';
import { encodeCircuit, readCircuit } from './circuit.ts';
import {
  badProject,
  SCHEMA_VERSION,
  type AutosaveInfo,
  type ModelDims,
  type ModelFile,
  type ModelRef,
  type Project,
  type ProjectResults,
  type ProjectSettings,
  type Provenance,
} from './types.ts';

export const MAGIC = Buffer.from('PATCHBENCH\0', 'latin1');
const LEN_BYTES = 8;
const DIRECTIONS: readonly Direction[] = ['denoising', 'noising'];
const METHODS: readonly Method[] = ['attribution', 'activation', 'both'];
const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

function assertLittleEndian(): void {
  if (endianness() !== 'LE') throw new PatchbenchError('internal', 'project files are little-endian; this machine is big-endian');
}

// ---------------------------------------------------------------------------------------------
// Container

export interface Container {
  header: unknown;
  /** the array section */
  data: Uint8Array;
}

/** Splits a file into its JSON header and array section. `file` names it in errors. */
export function readContainer(buf: Uint8Array, file: string): Container {
  const fail = (m: string): never => {
    throw badProject(`${file}: ${m}`);
  };
  const head = Buffer.from(buf.buffer, buf.byteOffset, Math.min(buf.length, MAGIC.length));
  if (buf.length < MAGIC.length && MAGIC.subarray(0, buf.length).equals(head)) {
    fail(`truncated: the file is ${buf.length} bytes, shorter than the ${MAGIC.length}-byte magic`);
  }
  if (!head.equals(MAGIC)) {
    const first = String.fromCharCode(...buf.subarray(0, 1));
    const hint = first === '{' || first === '[' ? ' (it looks like JSON: a results report from `patchbench patch --out` is not a project)' : '';
    fail(`wrong magic: not a Patchbench project file${hint}`);
  }
  if (buf.length < MAGIC.length + LEN_BYTES) fail(`truncated: the file is ${buf.length} bytes, too short to hold a header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = view.getBigUint64(MAGIC.length, true);
  const start = MAGIC.length + LEN_BYTES;
  if (headerLen > BigInt(buf.length - start)) {
    fail(`truncated: the header is ${headerLen} bytes but only ${buf.length - start} follow the header length`);
  }
  const end = start + Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(start, end)));
  } catch (e) {
    fail(`bad JSON in the header (${(e as Error).message})`);
  }
  return { header, data: buf.subarray(end) };
}

/** The file: magic, header length, header (space-padded to align the arrays), arrays. */
export function writeContainer(header: object, arrays: Uint8Array[]): Uint8Array[] {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const start = MAGIC.length + LEN_BYTES;
  const pad = (8 - ((start + json.length) % 8)) % 8;
  const len = Buffer.alloc(LEN_BYTES);
  len.writeBigUInt64LE(BigInt(json.length + pad));
  return [MAGIC, len, json, Buffer.alloc(pad, 0x20), ...arrays];
}

// ---------------------------------------------------------------------------------------------
// Decoding

export interface Decoded {
  project: Project;
  /** the schema version the file was written in (before migration) */
  schemaVersion: number;
  /** what was odd but readable: unknown keys, ignored */
  warnings: string[];
}

/**
 * Decodes and validates a whole file. `file` is its path: it names the file in errors and anchors a
 * relative `model.path`.
 */
export function decodeProject(buf: Uint8Array, file: string): Decoded {
  assertLittleEndian();
  let { header, data } = readContainer(buf, file);
  const fail: Fail = (m) => {
    throw badProject(`${file}: ${m}`);
  };
  const f = new Fields(fail);
  const root = f.obj(header, 'the header');
  const version = f.int(f.get(root, '', 'schemaVersion'), 'schemaVersion', 1, Number.MAX_SAFE_INTEGER);
  if (version > SCHEMA_VERSION) {
    fail(`schemaVersion ${version} is newer than this app supports (${SCHEMA_VERSION}); update Patchbench`);
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    const step = MIGRATIONS[v];
    if (!step) fail(`schemaVersion ${v} cannot be read by this app (no migration from it)`);
    ({ header, data } = step(header, data, fail));
    const next = f.obj(header, `the header after migration to ${v + 1}`);
    if (next.schemaVersion !== v + 1) fail(`internal: migration from ${v} produced schemaVersion ${String(next.schemaVersion)}`);
  }
  const checked = new Fields(fail);
  return { project: validateV2(checked, f.obj(header, 'the header'), data, file), schemaVersion: version, warnings: checked.warnings };
}

const ROOT_KEYS = ['schemaVersion', 'pairs', 'settings', 'model', 'provenance', 'results', 'view', 'circuit', 'autosave'];

function validateV2(f: Fields, root: Record<string, unknown>, data: Uint8Array, file: string): Project {
  const fail = f.fail;
  f.known(root, '', ROOT_KEYS);
  // A project may have no pairs yet (a new one, saved before any were added); results need some.
  const pairs = f.arr(f.get(root, '', 'pairs'), 'pairs').map((p, i) => readPair(f, p, `pairs[${i}]`));
  const settings = readSettings(f, f.get(root, '', 'settings'));
  const model = readModel(f, f.get(root, '', 'model'), file);
  const provRaw = f.get(root, '', 'provenance');
  const resRaw = f.get(root, '', 'results');
  if ((provRaw === null) !== (resRaw === null)) {
    fail(provRaw === null ? 'provenance is null but there are results' : 'results is null but provenance is not (provenance describes the results)');
  }
  const provenance = provRaw === null ? null : readProvenance(f, provRaw);
  const arrays = new ArraySection(data, f);
  if (resRaw !== null && pairs.length === 0) fail('pairs is empty but there are results');
  const results = resRaw === null ? null : readResults(f, resRaw, pairs.length, settings, model.dims, arrays);
  const circuitRaw = f.opt(root, 'circuit');
  const circuit = circuitRaw === undefined || circuitRaw === null ? undefined : readCircuit(f, circuitRaw, (e, at, n) => arrays.take(e, at, n));
  arrays.checkCovered();
  const view = f.obj(f.get(root, '', 'view'), 'view');
  const project: Project = { pairs, settings, model, provenance, results, view };
  if (circuit) project.circuit = circuit;
  const auto = f.opt(root, 'autosave');
  if (auto !== undefined) project.autosave = readAutosave(f, auto);
  return project;
}

function readPair(f: Fields, v: unknown, at: string): PromptPair {
  const o = f.obj(v, at);
  const s = (k: string) => f.str(f.get(o, at, k), `${at}.${k}`, true);
  return { clean: s('clean'), corrupted: s('corrupted'), answer: s('answer'), wrong: s('wrong') };
}

function readSettings(f: Fields, v: unknown): ProjectSettings {
  const at = 'settings';
  const o = f.obj(v, at);
  f.known(o, at, ['direction', 'metric', 'kinds', 'method', 'verifyTop', 'prependBos', 'qkFix', 'gradDrop', 'rankBy', 'recallK']);
  const kinds = f.arr(f.get(o, at, 'kinds'), `${at}.kinds`, true).map((k, i) => f.oneOf(k, `${at}.kinds[${i}]`, KINDS));
  const dup = kinds.find((k, i) => kinds.indexOf(k) !== i);
  if (dup) f.fail(`${at}.kinds lists ${dup} twice`);
  const s: ProjectSettings = {
    direction: f.oneOf(f.get(o, at, 'direction'), `${at}.direction`, DIRECTIONS),
    metric: f.oneOf(f.get(o, at, 'metric'), `${at}.metric`, METRIC_NAMES),
    kinds,
    method: f.oneOf(f.get(o, at, 'method'), `${at}.method`, METHODS),
    prependBos: f.bool(f.get(o, at, 'prependBos'), `${at}.prependBos`),
  };
  const top = f.opt(o, 'verifyTop');
  if (top !== undefined && top !== null) s.verifyTop = f.int(top, `${at}.verifyTop`, 1);
  for (const flag of ['qkFix', 'gradDrop'] as const) {
    const v = f.opt(o, flag);
    if (v !== undefined && f.bool(v, `${at}.${flag}`)) s[flag] = true;
  }
  const rankBy = f.opt(o, 'rankBy');
  if (rankBy !== undefined) s.rankBy = f.oneOf(rankBy, `${at}.rankBy`, RANKINGS);
  const recallK = f.opt(o, 'recallK');
  if (recallK !== undefined) s.recallK = f.int(recallK, `${at}.recallK`, 1);
  return s;
}

function readModel(f: Fields, v: unknown, file: string): ModelRef {
  const at = 'model';
  const o = f.obj(v, at);
  f.known(o, at, ['path', 'name', 'fingerprint', 'files', 'dims', 'bundled']);
  const stored = f.str(f.get(o, at, 'path'), `${at}.path`, true);
  const fingerprint = f.strOrNull(f.get(o, at, 'fingerprint'), `${at}.fingerprint`);
  if (fingerprint !== null && !/^sha256:[0-9a-f]{64}$/.test(fingerprint)) f.fail(`${at}.fingerprint must be "sha256:" and 64 hex digits, got ${JSON.stringify(fingerprint)}`);
  const files: ModelFile[] = f.arr(f.get(o, at, 'files'), `${at}.files`).map((x, i) => {
    const w = `${at}.files[${i}]`;
    const e = f.obj(x, w);
    return { name: f.str(f.get(e, w, 'name'), `${w}.name`, true), bytes: f.int(f.get(e, w, 'bytes'), `${w}.bytes`) };
  });
  const dimsRaw = f.get(o, at, 'dims');
  let dims: ModelDims | null = null;
  if (dimsRaw !== null) {
    const d = f.obj(dimsRaw, `${at}.dims`);
    const n = (k: keyof ModelDims) => f.int(f.get(d, `${at}.dims`, k), `${at}.dims.${k}`, 1);
    dims = { nLayers: n('nLayers'), nHeads: n('nHeads'), dModel: n('dModel'), dMlp: n('dMlp'), dVocab: n('dVocab') };
    if (f.opt(d, 'nKvHeads') !== undefined) dims.nKvHeads = n('nKvHeads');
  }
  const ref: ModelRef = { path: resolveStoredPath(stored, file), name: f.str(f.get(o, at, 'name'), `${at}.name`), fingerprint, files, dims };
  const bundled = f.opt(o, 'bundled');
  if (bundled !== undefined) ref.bundled = f.bool(bundled, `${at}.bundled`);
  return ref;
}

function readProvenance(f: Fields, v: unknown): Provenance {
  const at = 'provenance';
  const o = f.obj(v, at);
  const seconds = f.num(f.get(o, at, 'seconds'), `${at}.seconds`);
  if (seconds < 0) f.fail(`${at}.seconds is negative`);
  return {
    appVersion: f.strOrNull(f.get(o, at, 'appVersion'), `${at}.appVersion`),
    backend: f.str(f.get(o, at, 'backend'), `${at}.backend`, true),
    date: f.date(f.get(o, at, 'date'), `${at}.date`),
    seconds,
  };
}

function readAutosave(f: Fields, v: unknown): AutosaveInfo {
  const o = f.obj(v, 'autosave');
  return { projectPath: f.strOrNull(f.get(o, 'autosave', 'projectPath'), 'autosave.projectPath'), date: f.date(f.get(o, 'autosave', 'date'), 'autosave.date') };
}

function readTokens(f: Fields, v: unknown, nPairs: number, dVocab: number | undefined): TokenizedPairs {
  const at = 'results.tokens';
  const o = f.obj(v, at);
  const maxId = (dVocab ?? Number.MAX_SAFE_INTEGER + 1) - 1;
  const ids = (x: unknown, w: string) => f.arr(x, w).map((t, i) => f.int(t, `${w}[${i}]`, 0, maxId));
  const list = (k: 'answer' | 'wrong') => {
    const a = ids(f.get(o, at, k), `${at}.${k}`);
    if (a.length !== nPairs) f.fail(`${at}.${k} has ${a.length} tokens, expected ${nPairs} (one per pair)`);
    return a;
  };
  let P = -1;
  const prompts = (k: 'clean' | 'corrupted') => {
    const rows = f.arr(f.get(o, at, k), `${at}.${k}`);
    if (rows.length !== nPairs) f.fail(`${at}.${k} has ${rows.length} prompts, expected ${nPairs} (one per pair)`);
    return rows.map((r, i) => {
      const t = ids(r, `${at}.${k}[${i}]`);
      if (P < 0) P = t.length;
      if (t.length === 0) f.fail(`${at}.${k}[${i}] is empty`);
      if (t.length !== P) f.fail(`${at}.${k}[${i}] has ${t.length} tokens, expected ${P} like the first prompt`);
      return t;
    });
  };
  return { clean: prompts('clean'), corrupted: prompts('corrupted'), answer: list('answer'), wrong: list('wrong') };
}

function readResults(f: Fields, v: unknown, nPairs: number, s: ProjectSettings, dims: ModelDims | null, arrays: ArraySection): ProjectResults {
  const at = 'results';
  const o = f.obj(v, at);
  f.known(o, at, ['metric', 'tokens', 'kinds']);
  const m = f.obj(f.get(o, at, 'metric'), `${at}.metric`);
  const metric = { clean: f.num(f.get(m, `${at}.metric`, 'clean'), `${at}.metric.clean`), corrupted: f.num(f.get(m, `${at}.metric`, 'corrupted'), `${at}.metric.corrupted`) };
  const tokens = readTokens(f, f.get(o, at, 'tokens'), nPairs, dims?.dVocab);
  const P = tokens.clean[0].length;
  const kindsObj = f.obj(f.get(o, at, 'kinds'), `${at}.kinds`);
  for (const k of Object.keys(kindsObj)) {
    if (!s.kinds.includes(k as Kind)) f.fail(`${at}.kinds.${k} is not one of settings.kinds (${s.kinds.join(', ')})`);
  }
  const needAttr = s.method !== 'activation' || !!s.verifyTop;
  const needAct = s.method !== 'attribution' || !!s.verifyTop;
  // Without the model's dims, sizes must at least agree between kinds.
  const seen: Record<string, number> = dims ? { layer: dims.nLayers, head: dims.nHeads, 'key/value head': dims.nKvHeads ?? dims.nHeads, neuron: dims.dMlp, pos: P } : { pos: P };
  const kinds = s.kinds.map((kind): KindResult => {
    const w = `${at}.kinds.${kind}`;
    const ko = f.obj(f.get(kindsObj, `${at}.kinds`, kind), w);
    f.known(ko, w, ['shape', 'attribution', 'activation', 'attributionQk', 'scores', 'summary', 'verification']);
    // head_k and head_v count key/value heads (fewer than query heads under grouped-query attention)
    const dimNames = ['layer', ...KIND_SPECS[kind].dims.map((d) => (d === 'head' && KIND_SPECS[kind].kvHeads ? 'key/value head' : d))];
    const shape = f.arr(f.get(ko, w, 'shape'), `${w}.shape`).map((d, i) => f.int(d, `${w}.shape[${i}]`, 1));
    if (shape.length !== dimNames.length) f.fail(`${w}.shape is [${shape}] but ${kind} is indexed by [${dimNames.join(', ')}]`);
    shape.forEach((d, i) => {
      const name = dimNames[i];
      if (seen[name] === undefined) seen[name] = d;
      else if (seen[name] !== d) {
        const src = name === 'pos' ? 'the prompts' : dims ? 'model.dims' : 'the other kinds';
        f.fail(`${w}.shape is [${shape}]: ${name} size ${d}, but ${src} give ${seen[name]}`);
      }
    });
    const n = shape.reduce((a, b) => a * b, 1);
    const r: KindResult = { kind, shape };
    for (const [field, needed] of [['attribution', needAttr], ['activation', needAct]] as const) {
      const e = f.opt(ko, field);
      if (e === undefined || e === null) {
        if (needed) f.fail(`missing field ${w}.${field} (settings.method is ${s.method}${s.verifyTop ? ` with verifyTop ${s.verifyTop}` : ''})`);
        continue;
      }
      if (!needed) f.fail(`${w}.${field} is present but settings.method ${s.method} does not compute it`);
      r[field] = arrays.take(e, `${w}.${field}`, n);
    }
    const qk = f.opt(ko, 'attributionQk');
    if (qk !== undefined) {
      if (!s.qkFix || !isQkKind(kind)) f.fail(`${w}.attributionQk is present but ${isQkKind(kind) ? 'settings.qkFix is not set' : `${kind} has no QK fix`}`);
      r.attributionQk = arrays.take(qk, `${w}.attributionQk`, n);
    }
    const sc = f.opt(ko, 'scores');
    if (sc !== undefined) {
      const so = f.obj(sc, `${w}.scores`);
      for (const name of Object.keys(so)) f.oneOf(name, `${w}.scores: key ${JSON.stringify(name)}`, SCORE_NAMES);
      r.scores = {};
      for (const name of SCORE_NAMES) {
        const e = f.opt(so, name);
        if (e !== undefined) r.scores[name] = arrays.take(e, `${w}.scores.${name}`, n);
      }
    }
    const sum = f.opt(ko, 'summary');
    if (sum !== undefined) r.summary = readSummary(f, sum, `${w}.summary`, n);
    const ver = f.opt(ko, 'verification');
    if (ver !== undefined) r.verification = readVerification(f, ver, `${w}.verification`, n);
    // derived, so not stored: the fixed estimate's agreement and the recall curves
    if (r.attributionQk && r.activation) r.summaryQk = summarize(r.attributionQk, r.activation);
    if (r.scores && r.activation && s.method !== 'attribution') {
      r.recall = {};
      for (const name of SCORE_NAMES) if (r.scores[name]) r.recall[name] = verifiedRecall(r.scores[name]!, r.activation, s.recallK ?? DEFAULT_RECALL_K);
    }
    return r;
  });
  return { metric, tokens, kinds };
}

function readSummary(f: Fields, v: unknown, at: string, n: number): AgreementSummary {
  const o = f.obj(v, at);
  return {
    n: f.int(f.get(o, at, 'n'), `${at}.n`, 0, n),
    pearson: f.numOrNull(f.get(o, at, 'pearson'), `${at}.pearson`),
    spearman: f.numOrNull(f.get(o, at, 'spearman'), `${at}.spearman`),
    rmse: f.numOrNull(f.get(o, at, 'rmse'), `${at}.rmse`),
    outliers: f.arr(f.get(o, at, 'outliers'), `${at}.outliers`).map((x, i) => {
      const w = `${at}.outliers[${i}]`;
      const e = f.obj(x, w);
      return {
        component: f.int(f.get(e, w, 'component'), `${w}.component`, 0, n - 1),
        attribution: f.num(f.get(e, w, 'attribution'), `${w}.attribution`),
        activation: f.num(f.get(e, w, 'activation'), `${w}.activation`),
      };
    }),
  };
}

function readVerification(f: Fields, v: unknown, at: string, n: number): Verification {
  const o = f.obj(v, at);
  return {
    k: f.int(f.get(o, at, 'k'), `${at}.k`, 1),
    checked: f.arr(f.get(o, at, 'checked'), `${at}.checked`).map((c, i) => f.int(c, `${at}.checked[${i}]`, 0, n - 1)),
    pearson: f.numOrNull(f.get(o, at, 'pearson'), `${at}.pearson`),
    recovered: f.intOrNull(f.get(o, at, 'recovered'), `${at}.recovered`),
    ...(f.opt(o, 'ranking') !== undefined ? { ranking: f.oneOf(f.opt(o, 'ranking'), `${at}.ranking`, RANKINGS) } : {}),
  };
}

/** The array section: hands out each array once, checks ranges, overlaps and leftover bytes. */
class ArraySection {
  private used: [number, number, string][] = [];
  private readonly fail: Fail;
  constructor(
    private data: Uint8Array,
    private f: Fields,
  ) {
    this.fail = f.fail;
  }

  take(entry: unknown, at: string, expected: number): Float32Array {
    const f = this.f;
    const e = f.obj(entry, at);
    f.known(e, at, ['dtype', 'data_offsets', 'crc32']);
    const dtype = f.get(e, at, 'dtype');
    if (dtype !== 'F32') this.fail(`${at} has dtype ${JSON.stringify(dtype)}; arrays are stored as "F32"`);
    const off = f.arr(f.get(e, at, 'data_offsets'), `${at}.data_offsets`);
    if (off.length !== 2) this.fail(`${at}.data_offsets must be [begin, end]`);
    const [b, end] = off.map((x, i) => f.int(x, `${at}.data_offsets[${i}]`));
    if (end < b) this.fail(`${at}.data_offsets [${b}, ${end}] end before they begin`);
    if (end > this.data.length) this.fail(`truncated: ${at} needs bytes ${b}…${end} of the array section, which has ${this.data.length}`);
    if ((end - b) % 4 !== 0) this.fail(`${at} spans ${end - b} bytes, not a whole number of float32 values`);
    const count = (end - b) / 4;
    if (count !== expected) this.fail(`${at} has ${count} values, expected ${expected}`);
    for (const [ub, ue, uat] of this.used) if (b < ue && ub < end) this.fail(`${at} overlaps ${uat} in the array section`);
    this.used.push([b, end, at]);
    const stored = f.opt(e, 'crc32');
    if (stored !== undefined) {
      const want = f.int(stored, `${at}.crc32`, 0, 0xffffffff);
      const got = crc32(this.data.subarray(b, end));
      if (got !== want) this.fail(`${at} fails its checksum (CRC-32 ${hex(got)}, stored ${hex(want)}): the file is damaged`);
    }
    const out = new Float32Array(count);
    new Uint8Array(out.buffer).set(this.data.subarray(b, end));
    return out;
  }

  checkCovered(): void {
    const last = this.used.reduce((m, [, e]) => Math.max(m, e), 0);
    if (this.data.length > last) this.fail(`${this.data.length - last} unexpected bytes after the last array; the file is damaged`);
  }
}

const hex = (x: number) => x.toString(16).padStart(8, '0');

// ---------------------------------------------------------------------------------------------
// Encoding

export type ModelPathMode = 'auto' | 'absolute' | 'relative';

/** `stored` from a file at `file`, as an absolute path. */
export function resolveStoredPath(stored: string, file: string): string {
  return isAbsolute(stored) ? resolve(stored) : resolve(dirname(resolve(file)), ...stored.split('/'));
}

/**
 * How `modelDir` is written into the project at `file`: relative (with `/`) when asked, or in
 * `auto` mode when both lie inside `resourcesDir` (the app's resources, which move together);
 * otherwise absolute.
 */
export function storedModelPath(modelDir: string, file: string, mode: ModelPathMode, resourcesDir: string): string {
  const abs = resolve(modelDir);
  const within = (p: string) => {
    const r = relative(resourcesDir, p);
    return r !== '' && !r.startsWith('..') && !isAbsolute(r);
  };
  const rel = mode === 'relative' || (mode === 'auto' && within(abs) && within(resolve(file)));
  if (!rel) return abs;
  const r = relative(dirname(resolve(file)), abs);
  if (isAbsolute(r)) return abs; // another drive
  return r === '' ? '.' : r.split(sep).join('/');
}

/** The file's bytes, as chunks (header first). `storedPath` is `model.path` as written. */
export function encodeProject(p: Project, storedPath: string): Uint8Array[] {
  assertLittleEndian();
  const arrays: Uint8Array[] = [];
  let offset = 0;
  const entry = (a: Float32Array) => {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    arrays.push(bytes);
    const e = { dtype: 'F32', data_offsets: [offset, offset + bytes.length], crc32: crc32(bytes) };
    offset += bytes.length;
    return e;
  };
  const s = p.settings;
  const settings: Record<string, unknown> = { direction: s.direction, metric: s.metric, kinds: s.kinds, method: s.method };
  if (s.verifyTop !== undefined) settings.verifyTop = s.verifyTop;
  if (s.qkFix) settings.qkFix = true;
  if (s.gradDrop) settings.gradDrop = true;
  if (s.rankBy !== undefined) settings.rankBy = s.rankBy;
  if (s.recallK !== undefined) settings.recallK = s.recallK;
  settings.prependBos = s.prependBos;
  const model: Record<string, unknown> = {
    path: storedPath,
    name: p.model.name,
    fingerprint: p.model.fingerprint,
    files: p.model.files.map((x) => ({ name: x.name, bytes: x.bytes })),
    dims: p.model.dims,
  };
  if (p.model.bundled !== undefined) model.bundled = p.model.bundled;
  let results: unknown = null;
  if (p.results) {
    const kinds: Record<string, unknown> = {};
    for (const k of p.results.kinds) {
      const o: Record<string, unknown> = { shape: k.shape };
      if (k.attribution) o.attribution = entry(k.attribution);
      if (k.attributionQk) o.attributionQk = entry(k.attributionQk);
      if (k.scores) {
        const sc: Record<string, unknown> = {};
        for (const name of SCORE_NAMES) if (k.scores[name]) sc[name] = entry(k.scores[name]!);
        o.scores = sc;
      }
      if (k.activation) o.activation = entry(k.activation);
      if (k.summary) {
        const m = k.summary;
        o.summary = { n: m.n, pearson: m.pearson, spearman: m.spearman, rmse: m.rmse, outliers: m.outliers.map((x) => ({ component: x.component, attribution: x.attribution, activation: x.activation })) };
      }
      if (k.verification) {
        const x = k.verification;
        o.verification = { k: x.k, checked: x.checked, pearson: x.pearson, recovered: x.recovered, ...(x.ranking ? { ranking: x.ranking } : {}) };
      }
      kinds[k.kind] = o;
    }
    const t = p.results.tokens;
    results = { metric: { clean: p.results.metric.clean, corrupted: p.results.metric.corrupted }, tokens: { clean: t.clean, corrupted: t.corrupted, answer: t.answer, wrong: t.wrong }, kinds };
  }
  const header: Record<string, unknown> = {
    schemaVersion: SCHEMA_VERSION,
    pairs: p.pairs.map((x) => ({ clean: x.clean, corrupted: x.corrupted, answer: x.answer, wrong: x.wrong })),
    settings,
    model,
    provenance: p.provenance && { appVersion: p.provenance.appVersion, backend: p.provenance.backend, date: p.provenance.date, seconds: p.provenance.seconds },
    results,
    view: p.view,
  };
  if (p.circuit) header.circuit = encodeCircuit(p.circuit, entry);
  if (p.autosave) header.autosave = { projectPath: p.autosave.projectPath, date: p.autosave.date };
  return writeContainer(header, arrays);
}
