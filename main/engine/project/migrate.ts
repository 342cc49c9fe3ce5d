/**
 * Migrations between schema versions, one step each: MIGRATIONS[v] turns a valid version-v header
 * (and its array section) into version v+1. Each step validates what it reads and builds the next
 * version exactly; format.ts then validates the final version in full. Nothing is guessed: what an
 * old version did not record stays null ("unknown").
 *
 * Version 1 (Patchbench 0.0.x previews): the same container (magic, header length, JSON header) but
 * with no array section; arrays were JSON numbers with null for NaN, and there was no provenance
 * block or model fingerprint:
 *
 *   schemaVersion 1, pairs, settings (as in v2), view,
 *   model      {path, name}
 *   backend    string, seconds: number, savedAt: ISO date   (top level; absent when results is null)
 *   results    {metric: {clean, corrupted}, tokens, kinds: [{kind, shape, attribution?: (number|null)[],
 *               activation?: (number|null)[], summary?, verification?}]} or null
 *
 * 1 → 2: arrays move to the float32 array section (null → NaN), `results.kinds` becomes an object
 * keyed by kind, backend/seconds/savedAt become `provenance` with appVersion null, and the model gets
 * fingerprint null, files [] and dims null (checkModel reports such a model as unverified).
 */
import { Fields, type Fail } from './check.ts';

export type Migration = (header: unknown, data: Uint8Array, fail: Fail) => { header: unknown; data: Uint8Array };

export const MIGRATIONS: Record<number, Migration> = {
  1: v1to2,
};

function v1to2(header: unknown, data: Uint8Array, fail: Fail): { header: unknown; data: Uint8Array } {
  const f = new Fields((m) => fail(`${m} (in a schemaVersion 1 file)`));
  const root = f.obj(header, 'the header');
  if (data.length) f.fail(`${data.length} unexpected bytes after the header; version 1 files hold no array section`);
  for (const k of ['pairs', 'settings', 'view']) f.get(root, '', k);
  const model = f.obj(f.get(root, '', 'model'), 'model');
  const resRaw = f.get(root, '', 'results');
  const chunks: Float32Array[] = [];
  let offset = 0;
  const toArray = (v: unknown, at: string) => {
    const list = f.arr(v, at);
    const a = new Float32Array(list.length);
    list.forEach((x, i) => (a[i] = x === null ? NaN : f.num(x, `${at}[${i}]`)));
    chunks.push(a);
    const e = { dtype: 'F32', data_offsets: [offset, offset + a.byteLength] };
    offset += a.byteLength;
    return e;
  };
  let results: unknown = null;
  let provenance: unknown = null;
  if (resRaw !== null) {
    const r = f.obj(resRaw, 'results');
    const kinds: Record<string, unknown> = {};
    f.arr(f.get(r, 'results', 'kinds'), 'results.kinds').forEach((x, i) => {
      const at = `results.kinds[${i}]`;
      const k = f.obj(x, at);
      const kind = f.str(f.get(k, at, 'kind'), `${at}.kind`, true);
      if (Object.hasOwn(kinds, kind)) f.fail(`results.kinds lists ${kind} twice`);
      const out: Record<string, unknown> = { shape: f.get(k, at, 'shape') };
      for (const field of ['attribution', 'activation'] as const) {
        const v = f.opt(k, field);
        if (v !== undefined && v !== null) out[field] = toArray(v, `${at}.${field}`);
      }
      for (const field of ['summary', 'verification'] as const) if (f.opt(k, field) !== undefined) out[field] = k[field];
      kinds[kind] = out;
    });
    results = { metric: f.get(r, 'results', 'metric'), tokens: f.get(r, 'results', 'tokens'), kinds };
    provenance = {
      appVersion: null,
      backend: f.str(f.get(root, '', 'backend'), 'backend', true),
      date: f.date(f.get(root, '', 'savedAt'), 'savedAt'),
      seconds: f.num(f.get(root, '', 'seconds'), 'seconds'),
    };
  }
  const next = {
    schemaVersion: 2,
    pairs: root.pairs,
    settings: root.settings,
    model: { path: f.str(f.get(model, 'model', 'path'), 'model.path', true), name: f.str(f.get(model, 'model', 'name'), 'model.name'), fingerprint: null, files: [], dims: null },
    provenance,
    results,
    view: root.view,
  };
  const bytes = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    bytes.set(new Uint8Array(c.buffer), at);
    at += c.byteLength;
  }
  return { header: next, data: bytes };
}
