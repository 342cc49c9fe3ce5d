/**
 * Project files: bit-for-bit round trips, every kind of broken file, migration from version 1,
 * crash safety of saves, model missing/changed detection, autosave and recovery, `patchbench run`
 * end to end, and the bundled example.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PatchbenchError } from '../main/engine/errors.ts';
import { HookedModel } from '../main/engine/model.ts';
import { runPatching, type PatchingResult, type PatchRequest } from '../main/engine/patching/index.ts';
import { parsePairsJsonl, tokenizePairs, type PromptPair } from '../main/engine/patching/pairs.ts';
import { toJsonReport } from '../main/engine/patching/report.ts';
import { decodeProject, readContainer, writeContainer } from '../main/engine/project/format.ts';
import {
  autosavePath,
  autosaveProject,
  checkModel,
  describeModel,
  discardRecovery,
  emptyProject,
  listRecoverable,
  loadProject,
  loadProjectInfo,
  MAGIC,
  projectFromResult,
  recoveryDir,
  requestFromSettings,
  resolveModelDir,
  resultFromProject,
  saveProject,
  SCHEMA_VERSION,
  settingsFromRequest,
  storedModelPath,
  type ModelRef,
  type Project,
} from '../main/engine/project/index.ts';
import { assertClose, ROOT, runCli, TINY, useBackend } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-project-'));
process.env.PATCHBENCH_HOME = join(tmp, 'home');
after(() => rmSync(tmp, { recursive: true, force: true }));

const REQ: PatchRequest = { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z', 'resid_pre', 'head_z_pos'], method: 'attribution', verifyTop: 3 };
let pairs: PromptPair[];
let result: PatchingResult;
let modelRef: ModelRef;
let project: Project;
/** a saved, valid project file */
let good: string;

before(async () => {
  await useBackend('wasm');
  const m = await HookedModel.load(TINY);
  pairs = parsePairsJsonl(readFileSync(join(TINY, 'expected/ioi.pairs.jsonl'), 'utf8'), 'ioi.pairs.jsonl').pairs;
  result = await runPatching(m, tokenizePairs(m, pairs, true), REQ);
  m.dispose();
  modelRef = await describeModel(TINY);
  project = projectFromResult(result, { pairs, settings: settingsFromRequest(REQ, true), model: modelRef, view: { selected: { kind: 'head_z', index: [1, 2] }, sort: 'attribution', theme: 'dark' } });
  good = join(tmp, 'good.patchbench');
  saveProject(good, project);
});

const bits = (a: Float32Array | undefined) => (a ? Buffer.from(a.buffer, a.byteOffset, a.byteLength) : undefined);

function assertSameProject(got: Project, want: Project) {
  const strip = (p: Project) => JSON.parse(JSON.stringify({ ...p, results: p.results && { ...p.results, kinds: p.results.kinds.map((k) => ({ ...k, attribution: undefined, activation: undefined })) } }));
  assert.deepEqual(strip(got), strip(want));
  want.results?.kinds.forEach((k, i) => {
    const g = got.results!.kinds[i];
    assert.equal(g.kind, k.kind);
    for (const f of ['attribution', 'activation'] as const) assert.ok(bits(g[f])?.equals(bits(k[f])!) ?? !k[f], `${k.kind}.${f} bit for bit`);
  });
}

/** Rewrites a project file's header (and optionally its array section) as a test case. */
function variant(name: string, mutate: (h: any) => void, data?: (d: Uint8Array) => Uint8Array): string {
  const { header, data: d } = readContainer(readFileSync(good), good);
  mutate(header);
  const path = join(tmp, name);
  writeFileSync(path, Buffer.concat(writeContainer(header as object, [data ? data(d) : d])));
  return path;
}

function assertBroken(path: string, pattern: RegExp) {
  assert.throws(
    () => loadProject(path),
    (e: unknown) => {
      assert.ok(e instanceof PatchbenchError, String(e));
      assert.equal(e.code, 'bad-project');
      assert.ok(e.message.startsWith(`${path}: `), e.message);
      assert.match(e.message, pattern);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    },
  );
}

describe('round trip', () => {
  test('save and reopen: identical project, arrays bit for bit (NaN included), the same report', () => {
    const back = loadProject(good);
    assertSameProject(back, project);
    assert.ok(back.results!.kinds.some((k) => k.activation?.some(Number.isNaN)), 'verify-top leaves NaN where activation was not run');
    assert.equal(JSON.stringify(toJsonReport(resultFromProject(back)!)), JSON.stringify(toJsonReport(result)));
    assert.equal(loadProjectInfo(good).schemaVersion, SCHEMA_VERSION);
  });

  test('AtP* arrays round trip bit for bit; the QK summary and the recall curves are derived again', async () => {
    const req: PatchRequest = { direction: 'noising', metric: 'logit-diff', kinds: ['head_k', 'resid_pre'], method: 'both', qkFix: true, gradDrop: true, rankBy: 'atp_qk', recallK: 3, verifyTop: 2 };
    const m = await HookedModel.load(TINY);
    const star = await runPatching(m, tokenizePairs(m, pairs, true), req).finally(() => m.dispose());
    const file = join(tmp, 'star.patchbench');
    saveProject(file, projectFromResult(star, { pairs, settings: settingsFromRequest(req, true), model: modelRef, view: {} }));
    const back = loadProject(file);
    assert.deepEqual(decodeProject(readFileSync(file), file).warnings, [], 'every AtP* key is known');
    assert.deepEqual(requestFromSettings(back.settings), req);
    back.results!.kinds.forEach((k, i) => {
      const want = star.kinds[i];
      assert.ok(bits(k.attributionQk)?.equals(bits(want.attributionQk)!) ?? !want.attributionQk, `${k.kind} attributionQk`);
      assert.deepEqual(Object.keys(k.scores!), ['atp', 'atp_qk', 'graddrop', 'atp_star']);
      for (const [name, a] of Object.entries(want.scores!)) assert.ok(bits(k.scores![name as 'atp'])!.equals(bits(a)!), `${k.kind} score ${name}`);
      assert.deepEqual(k.recall, want.recall);
      assert.deepEqual(k.summaryQk, want.summaryQk);
      assert.equal(k.verification!.ranking, 'atp_qk');
    });
    assert.equal(JSON.stringify(toJsonReport(resultFromProject(back)!)), JSON.stringify(toJsonReport(star)));
    const { header, data } = readContainer(readFileSync(file), file);
    (header as any).settings.qkFix = false;
    const broken = join(tmp, 'star-broken.patchbench');
    writeFileSync(broken, Buffer.concat(writeContainer(header as object, [data])));
    assertBroken(broken, /results\.kinds\.head_k\.attributionQk is present but settings\.qkFix is not set/);
  });

  test('saving a reopened project writes the same bytes', () => {
    const again = join(tmp, 'again.patchbench');
    saveProject(again, loadProject(good));
    assert.ok(readFileSync(again).equals(readFileSync(good)));
  });

  test('the file: magic, header length, JSON header with schemaVersion first, float32 arrays on 8-byte boundaries', () => {
    const buf = readFileSync(good);
    assert.ok(buf.subarray(0, MAGIC.length).equals(Buffer.from('PATCHBENCH\0', 'latin1')));
    const len = Number(buf.readBigUInt64LE(MAGIC.length));
    assert.equal((MAGIC.length + 8 + len) % 8, 0);
    const header = JSON.parse(buf.subarray(MAGIC.length + 8, MAGIC.length + 8 + len).toString());
    assert.equal(Object.keys(header)[0], 'schemaVersion');
    assert.deepEqual(Object.keys(header), ['schemaVersion', 'pairs', 'settings', 'model', 'provenance', 'results', 'view']);
    const { crc32: sum, ...entry } = header.results.kinds.head_z.attribution;
    assert.deepEqual(entry, { dtype: 'F32', data_offsets: [0, 32] });
    assert.ok(Number.isInteger(sum) && sum >= 0 && sum <= 0xffffffff, 'each array has its CRC-32');
    assert.match(header.model.fingerprint, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(header.model.files.map((f: any) => f.name), ['config.json', 'model.safetensors']);
    assert.equal(header.provenance.appVersion, JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    const total = result.kinds.reduce((s, k) => s + (k.attribution?.length ?? 0) + (k.scores?.atp?.length ?? 0) + (k.activation?.length ?? 0), 0);
    assert.equal(buf.length, MAGIC.length + 8 + len + 4 * total, 'arrays are stored as 4-byte floats, not JSON');
  });

  test('unusual float bits survive: NaN payloads, −0, ±Infinity, subnormals', () => {
    const odd = new Uint32Array([0x7fc00001, 0xffc00000, 0x7f800001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x3f800000]);
    const p: Project = structuredClone(project);
    p.results!.kinds[0].attribution = new Float32Array(odd.buffer.slice(0));
    const path = join(tmp, 'odd.patchbench');
    saveProject(path, p);
    assert.ok(bits(loadProject(path).results!.kinds[0].attribution)!.equals(Buffer.from(odd.buffer)));
  });

  test('a project not run yet (no results, no provenance) round trips', () => {
    const p = emptyProject({ pairs, settings: settingsFromRequest(REQ, false), model: modelRef });
    const path = join(tmp, 'empty.patchbench');
    saveProject(path, p);
    assertSameProject(loadProject(path), p);
    assert.equal(resultFromProject(loadProject(path)), null);
  });

  test('settings and requests convert both ways; results must match the settings', () => {
    assert.deepEqual(requestFromSettings(settingsFromRequest(REQ, true)), REQ);
    assert.throws(() => projectFromResult(result, { pairs, settings: { ...settingsFromRequest(REQ, true), metric: 'logprob' }, model: modelRef }), /metric/);
    assert.throws(() => projectFromResult(result, { pairs: pairs.slice(1), settings: settingsFromRequest(REQ, true), model: modelRef }), /number of pairs/);
  });

  test('model.path: absolute, or relative to the project file', () => {
    const sub = join(tmp, 'shared-folder', 'projects');
    mkdirSync(sub, { recursive: true });
    const path = join(sub, 'rel.patchbench');
    saveProject(path, project, { modelPath: 'relative' });
    const stored = (readContainer(readFileSync(path), path).header as any).model.path;
    assert.ok(!stored.startsWith('/') && stored.startsWith('..'), stored);
    assert.equal(loadProject(path).model.path, resolve(TINY));
    assert.equal((readContainer(readFileSync(good), good).header as any).model.path, resolve(TINY), 'outside the app resources: absolute');
    // auto: relative exactly when model and project both live in the app's resources
    assert.equal(storedModelPath('/app/resources/models/demo', '/app/resources/examples/x.patchbench', 'auto', '/app/resources'), '../models/demo');
    assert.equal(storedModelPath('/app/resources/models/demo', '/home/me/x.patchbench', 'auto', '/app/resources'), '/app/resources/models/demo');
    assert.equal(storedModelPath('/data/m', '/home/me/x.patchbench', 'auto', '/app/resources'), '/data/m');
  });
});

describe('broken files are refused with a message naming the problem', () => {
  test('truncated anywhere', () => {
    const buf = readFileSync(good);
    const len = Number(buf.readBigUInt64LE(MAGIC.length));
    for (const [name, cut] of [['t1', 5], ['t2', 15], ['t3', MAGIC.length + 8 + 100], ['t4', buf.length - 3], ['t5', MAGIC.length + 8 + len + 10]] as const) {
      const path = join(tmp, `${name}.patchbench`);
      writeFileSync(path, buf.subarray(0, cut));
      assertBroken(path, /truncated/);
    }
    const empty = join(tmp, 'empty-file.patchbench');
    writeFileSync(empty, '');
    assertBroken(empty, /truncated: the file is 0 bytes/);
  });

  test('wrong magic (and a hint for a JSON report)', () => {
    const buf = Buffer.from(readFileSync(good));
    buf[0] = 'Q'.charCodeAt(0);
    const path = join(tmp, 'magic.patchbench');
    writeFileSync(path, buf);
    assertBroken(path, /wrong magic: not a Patchbench project file$/);
    const report = join(tmp, 'report.patchbench');
    writeFileSync(report, JSON.stringify(toJsonReport(result)));
    assertBroken(report, /wrong magic.*looks like JSON/);
  });

  test('bad JSON', () => {
    const path = join(tmp, 'json.patchbench');
    const body = Buffer.from('{"schemaVersion": 2, "pairs": [');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(body.length));
    writeFileSync(path, Buffer.concat([MAGIC, len, body]));
    assertBroken(path, /bad JSON in the header/);
  });

  test('missing fields', () => {
    assertBroken(variant('m1.patchbench', (h) => delete h.settings.metric), /: missing field settings\.metric$/);
    assertBroken(variant('m2.patchbench', (h) => delete h.schemaVersion), /missing field schemaVersion/);
    assertBroken(variant('m3.patchbench', (h) => delete h.results.kinds.head_z.attribution), /missing field results\.kinds\.head_z\.attribution \(settings\.method is attribution with verifyTop 3\)/);
    assertBroken(variant('m4.patchbench', (h) => delete h.view), /missing field view/);
    assertBroken(variant('m5.patchbench', (h) => delete h.pairs[2].wrong), /missing field pairs\[2\]\.wrong/);
    assertBroken(variant('m6.patchbench', (h) => delete h.model.fingerprint), /missing field model\.fingerprint/);
    assertBroken(variant('m7.patchbench', (h) => (h.provenance = null)), /provenance is null but there are results/);
  });

  test('newer schema version', () => {
    assertBroken(variant('v7.patchbench', (h) => (h.schemaVersion = 7)), /: schemaVersion 7 is newer than this app supports \(2\); update Patchbench$/);
    assertBroken(variant('v0.patchbench', (h) => (h.schemaVersion = 0)), /schemaVersion is 0, outside 1…/);
    assertBroken(variant('vs.patchbench', (h) => (h.schemaVersion = '2')), /schemaVersion must be an integer/);
  });

  test('arrays of the wrong length, wrong dtype, overlapping, or with bytes left over', () => {
    assertBroken(
      variant('len.patchbench', (h) => (h.results.kinds.head_z.attribution.data_offsets[1] -= 4)),
      /: results\.kinds\.head_z\.attribution has 7 values, expected 8$/,
    );
    assertBroken(variant('odd.patchbench', (h) => (h.results.kinds.head_z.attribution.data_offsets[1] -= 2)), /spans 30 bytes, not a whole number of float32 values/);
    assertBroken(variant('dtype.patchbench', (h) => (h.results.kinds.head_z.attribution.dtype = 'F16')), /results\.kinds\.head_z\.attribution has dtype "F16"; arrays are stored as "F32"/);
    assertBroken(
      variant('overlap.patchbench', (h) => (h.results.kinds.resid_pre.attribution.data_offsets = h.results.kinds.head_z.attribution.data_offsets.map((x: number) => x).map((x: number, i: number) => (i ? x + 4 * 22 : x)))),
      /results\.kinds\.resid_pre\.attribution overlaps results\.kinds\.head_z\.attribution/,
    );
    assertBroken(variant('extra.patchbench', () => {}, (d) => Buffer.concat([d, Buffer.alloc(12)])), /12 unexpected bytes after the last array/);
    assertBroken(variant('past.patchbench', (h) => (h.results.kinds.head_z.attribution.data_offsets = [1_000_000, 1_000_032])), /truncated: results\.kinds\.head_z\.attribution needs bytes/);
  });

  test('shapes, tokens and kinds inconsistent with the model or the settings', () => {
    assertBroken(variant('shape.patchbench', (h) => (h.results.kinds.head_z.shape = [2, 5])), /results\.kinds\.head_z\.shape is \[2,5\]: head size 5, but model\.dims give 4/);
    assertBroken(variant('pos.patchbench', (h) => (h.results.kinds.resid_pre.shape = [2, 14])), /pos size 14, but the prompts give 15/);
    assertBroken(variant('tok.patchbench', (h) => h.results.tokens.clean[3].pop()), /results\.tokens\.clean\[3\] has 14 tokens, expected 15/);
    assertBroken(variant('vocab.patchbench', (h) => (h.results.tokens.answer[0] = 60000)), /results\.tokens\.answer\[0\] is 60000, outside 0…50256/);
    assertBroken(variant('kinds.patchbench', (h) => h.settings.kinds.pop()), /results\.kinds\.head_z_pos is not one of settings\.kinds/);
    assertBroken(variant('metric.patchbench', (h) => (h.settings.metric = 'accuracy')), /settings\.metric must be one of logit-diff, prob-diff, logprob; got "accuracy"/);
    assertBroken(variant('fp.patchbench', (h) => (h.model.fingerprint = 'md5:abc')), /model\.fingerprint must be "sha256:"/);
    assertBroken(variant('date.patchbench', (h) => (h.provenance.date = 'yesterday')), /provenance\.date must be an ISO 8601 date/);
    assertBroken(variant('view.patchbench', (h) => (h.view = [1])), /view must be an object, got an array/);
    assertBroken(variant('outlier.patchbench', (h) => (h.results.kinds.head_z.verification.checked[0] = 8)), /results\.kinds\.head_z\.verification\.checked\[0\] is 8, outside 0…7/);
  });

  test('a missing file', () => {
    assert.throws(() => loadProject(join(tmp, 'nope.patchbench')), /nope\.patchbench: cannot read \(no such file\)/);
  });

  test('saving an invalid project is refused before anything is written', () => {
    const before = readFileSync(good);
    const bad: Project = structuredClone(project);
    bad.results!.kinds[0].attribution = new Float32Array(7);
    assert.throws(() => saveProject(good, bad), /results\.kinds\.head_z\.attribution has 7 values, expected 8/);
    assert.ok(readFileSync(good).equals(before));
    assert.deepEqual(readdirSync(tmp).filter((f) => f.endsWith('.tmp')), []);
  });
});

describe('migration', () => {
  /** The same project as a version 1 file: arrays as JSON numbers (null for NaN), no provenance block or fingerprint. */
  function v1Header(): any {
    const r = project.results!;
    return structuredClone({
      schemaVersion: 1,
      pairs: project.pairs,
      settings: project.settings,
      model: { path: TINY, name: 'gpt2-tiny-random' },
      backend: 'wasm',
      seconds: 1.5,
      savedAt: '2024-05-01T12:00:00.000Z',
      results: {
        metric: r.metric,
        tokens: r.tokens,
        kinds: r.kinds.map((k) => ({
          kind: k.kind,
          shape: k.shape,
          attribution: k.attribution && Array.from(k.attribution, (x) => (Number.isNaN(x) ? null : x)),
          activation: k.activation && Array.from(k.activation, (x) => (Number.isNaN(x) ? null : x)),
          summary: k.summary,
          verification: k.verification,
        })),
      },
      view: { sort: 'attribution' },
    });
  }
  const writeV1 = (name: string, h: unknown) => {
    const path = join(tmp, name);
    writeFileSync(path, Buffer.concat(writeContainer(h as object, [])));
    return path;
  };

  test('a version 1 file opens as version 2 with the same results and unknowns left null', async () => {
    const path = writeV1('v1.patchbench', v1Header());
    const { project: p, schemaVersion } = loadProjectInfo(path);
    assert.equal(schemaVersion, 1);
    assert.deepEqual(p.provenance, { appVersion: null, backend: 'wasm', date: '2024-05-01T12:00:00.000Z', seconds: 1.5 });
    assert.deepEqual(p.model, { path: resolve(TINY), name: 'gpt2-tiny-random', fingerprint: null, files: [], dims: null });
    assert.deepEqual(p.view, { sort: 'attribution' });
    // Version 1 stored no AtP* scores, so the migrated results are today's without them.
    const withoutScores = { ...result, kinds: result.kinds.map(({ scores: _, ...k }) => k) };
    assert.equal(JSON.stringify(toJsonReport(resultFromProject(p)!)), JSON.stringify({ ...toJsonReport(withoutScores), backend: 'wasm', seconds: 1.5 }));
    p.results!.kinds.forEach((k, i) => assert.ok(bits(k.attribution)!.equals(bits(result.kinds[i].attribution)!), 'float32 values are exact through JSON'));
    const check = await checkModel(p);
    assert.equal(check.status, 'unverified');
    assert.match(check.message, /records no fingerprint/);
    // Saved again, it is a version 2 file.
    const out = join(tmp, 'v1-saved.patchbench');
    saveProject(out, p);
    assert.equal(loadProjectInfo(out).schemaVersion, 2);
    assertSameProject(loadProject(out), p);
  });

  test('a version 1 file without results', () => {
    const h = v1Header();
    h.results = null;
    delete h.backend;
    delete h.seconds;
    delete h.savedAt;
    const p = loadProject(writeV1('v1-empty.patchbench', h));
    assert.equal(p.results, null);
    assert.equal(p.provenance, null);
  });

  test('broken version 1 files are refused, before and after migration', () => {
    const h1 = v1Header();
    h1.results.kinds[0].attribution[3] = 'x';
    assertBroken(writeV1('v1-bad.patchbench', h1), /results\.kinds\[0\]\.attribution\[3\] must be a number, got "x" \(in a schemaVersion 1 file\)/);
    const h2 = v1Header();
    delete h2.savedAt;
    assertBroken(writeV1('v1-nodate.patchbench', h2), /missing field savedAt \(in a schemaVersion 1 file\)/);
    const h3 = v1Header();
    h3.results.kinds[0].attribution.pop();
    assertBroken(writeV1('v1-short.patchbench', h3), /results\.kinds\.head_z\.attribution has 7 values, expected 8/);
    const h4 = v1Header();
    h4.settings.direction = 'up';
    assertBroken(writeV1('v1-dir.patchbench', h4), /settings\.direction must be one of denoising, noising/);
  });
});

describe('crash safety', () => {
  test('a save killed mid-write leaves the previous file intact', async () => {
    const target = join(tmp, 'crash.patchbench');
    saveProject(target, project);
    const before = readFileSync(target);
    const child = join(tmp, 'slow-save.mts');
    writeFileSync(
      child,
      `import { saveProject } from ${JSON.stringify(join(ROOT, 'main/engine/project/index.ts'))};
const n = 1 << 23; // 32 MB of float32
const project = {
  pairs: [{ clean: 'a b', corrupted: 'a c', answer: ' x', wrong: ' y' }],
  settings: { direction: 'denoising', metric: 'logit-diff', kinds: ['neuron'], method: 'attribution', prependBos: true },
  model: { path: '/nowhere/model', name: 'big', fingerprint: null, files: [], dims: { nLayers: 1, nHeads: 1, dModel: 1, dMlp: n, dVocab: 10 } },
  provenance: { appVersion: 'test', backend: 'cpu', date: new Date().toISOString(), seconds: 1 },
  results: { metric: { clean: 1, corrupted: 0 }, tokens: { clean: [[1, 2]], corrupted: [[1, 3]], answer: [4], wrong: [5] }, kinds: [{ kind: 'neuron', shape: [1, n], attribution: new Float32Array(n).fill(0.5) }] },
  view: {},
};
saveProject(process.argv[2], project, {
  onProgress(written, total) {
    if (written < total) {
      process.stdout.write('writing\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000); // stall mid-write until killed
    }
  },
});
process.stdout.write('finished\\n');
`,
    );
    const p = spawn(process.execPath, ['--import', 'tsx', child, target], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const exited = new Promise<NodeJS.Signals | null>((res) => p.on('exit', (_code, sig) => res(sig)));
    await new Promise<void>((res, rej) => {
      p.stdout.on('data', (d) => String(d).includes('writing') && res());
      p.on('exit', () => rej(new Error(`child exited before writing: ${err}`)));
    });
    const partial = readdirSync(tmp).filter((f) => f.startsWith('.crash.patchbench.') && f.endsWith('.tmp'));
    assert.equal(partial.length, 1, 'the new data goes to a temporary file beside the target');
    assert.ok(statSync(join(tmp, partial[0])).size > 0);
    p.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.ok(readFileSync(target).equals(before), 'the old file is untouched');
    assertSameProject(loadProject(target), project);
    rmSync(join(tmp, partial[0]));
  });

  test('a save that cannot be written fails cleanly and leaves no temporary file', () => {
    const dir = join(tmp, 'missing-dir');
    assert.throws(() => saveProject(join(dir, 'x.patchbench'), project), (e: any) => e.code === 'bad-input' && /cannot save \(ENOENT\)/.test(e.message));
    // Renaming over a folder fails after the data was written: the temporary file is removed.
    const blocker = join(tmp, 'blocker.patchbench');
    mkdirSync(join(blocker, 'inside'), { recursive: true });
    assert.throws(() => saveProject(blocker, project), /blocker\.patchbench: cannot save/);
    assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('.blocker')), []);
    assert.ok(statSync(join(blocker, 'inside')).isDirectory());
  });
});

describe('model checks', () => {
  const copy = join(tmp, 'model-copy');
  let p: Project;
  before(async () => {
    mkdirSync(copy);
    for (const f of ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt']) cpSync(join(TINY, f), join(copy, f));
    p = { ...project, model: await describeModel(copy) };
  });

  test('the same model: ok, and the fingerprint covers config.json and the weights', async () => {
    const c = await checkModel(p);
    assert.equal(c.status, 'ok', c.message);
    assert.equal(p.model.fingerprint, modelRef.fingerprint, 'a copy has the same fingerprint');
    assert.deepEqual(p.model.files, [
      { name: 'config.json', bytes: statSync(join(TINY, 'config.json')).size },
      { name: 'model.safetensors', bytes: statSync(join(TINY, 'model.safetensors')).size },
    ]);
    assert.deepEqual(p.model.dims, { nLayers: 2, nHeads: 4, dModel: 64, dMlp: 256, dVocab: 50257 });
  });

  test('changed weights (same size) and a changed size are both reported', async () => {
    const weights = join(copy, 'model.safetensors');
    const original = readFileSync(weights);
    const changed = Buffer.from(original);
    changed.writeFloatLE(changed.readFloatLE(changed.length - 4) + 1, changed.length - 4);
    writeFileSync(weights, changed);
    let c = await checkModel(p);
    assert.equal(c.status, 'changed');
    assert.match(c.message, /has changed since the project was saved: same file sizes, different contents; fingerprint sha256:/);
    appendFileSync(weights, Buffer.alloc(8));
    c = await checkModel(p);
    assert.match(c.message, new RegExp(`model\\.safetensors is ${original.length + 8} bytes \\(was ${original.length}\\)`));
    writeFileSync(weights, original);
    assert.equal((await checkModel(p)).status, 'ok');
  });

  test('a missing folder or missing weights', async () => {
    let c = await checkModel({ ...p, model: { ...p.model, path: join(tmp, 'gone') } });
    assert.equal(c.status, 'missing');
    assert.match(c.message, /model "model-copy" not found: .*gone does not exist/);
    const empty = join(tmp, 'no-weights');
    mkdirSync(empty);
    cpSync(join(TINY, 'config.json'), join(empty, 'config.json'));
    c = await checkModel(p, empty);
    assert.equal(c.status, 'missing');
    assert.match(c.message, /no model\.safetensors/);
  });

  test('the bundled model is found in this install when the recorded path is gone', () => {
    const old = process.env.PATCHBENCH_DEMO_MODEL;
    process.env.PATCHBENCH_DEMO_MODEL = copy;
    try {
      const moved: Project = { ...p, model: { ...p.model, path: '/old/install/resources/models/demo', bundled: true } };
      assert.equal(resolveModelDir(moved), copy);
      assert.equal(resolveModelDir({ ...moved, model: { ...moved.model, bundled: undefined } }), '/old/install/resources/models/demo');
    } finally {
      if (old === undefined) delete process.env.PATCHBENCH_DEMO_MODEL;
      else process.env.PATCHBENCH_DEMO_MODEL = old;
    }
  });
});

describe('autosave and recovery', () => {
  test('autosave paths: one per project file, one per untitled session, inside the recovery folder', () => {
    const a = autosavePath(join(tmp, 'a.patchbench'));
    assert.equal(a, autosavePath(join(tmp, 'a.patchbench')));
    assert.notEqual(a, autosavePath(join(tmp, 'sub', 'a.patchbench')));
    assert.ok(a.startsWith(join(tmp, 'home', 'recovery')));
    assert.match(a, /a-[0-9a-f]{12}\.patchbench$/);
    assert.equal(autosavePath(null), autosavePath(null));
    assert.match(autosavePath(null), /untitled-.*\.patchbench$/);
  });

  test('autosaves are listed, opened and discarded; broken ones are listed with the problem', () => {
    const file = join(tmp, 'work.patchbench');
    saveProject(file, project);
    utimesSync(file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const a1 = autosaveProject({ ...project, view: { edited: true } }, file);
    const a2 = autosaveProject(project, null);
    writeFileSync(join(recoveryDir(), 'broken.patchbench'), 'garbage');
    writeFileSync(join(recoveryDir(), '.x.patchbench.123-abcd.tmp'), 'half a save');
    const list = listRecoverable();
    assert.deepEqual(list.map((r) => r.path).sort(), [a1, a2, join(recoveryDir(), 'broken.patchbench')].sort());
    const r1 = list.find((r) => r.path === a1)!;
    assert.equal(r1.projectPath, resolve(file));
    assert.equal(r1.newer, true);
    assert.equal(list.find((r) => r.path === a2)!.projectPath, null);
    assert.match(list.find((r) => r.path.endsWith('broken.patchbench'))!.problem!, /wrong magic/);
    const recovered = loadProject(a1);
    assert.deepEqual(recovered.view, { edited: true });
    assert.equal(recovered.autosave?.projectPath, resolve(file));
    assert.equal(recovered.model.path, resolve(TINY));
    saveProject(file, recovered); // the app then saves to the real file…
    assert.equal(listRecoverable().find((r) => r.path === a1)!.newer, false);
    for (const r of listRecoverable()) discardRecovery(r.path); // …and discards the autosave
    assert.deepEqual(listRecoverable(), []);
    assert.throws(() => discardRecovery(file), /not an autosave/);
    assert.ok(existsSync(file));
  });
});

describe('patchbench run', () => {
  const cli = (...args: string[]) => runCli(args, { PATCHBENCH_HOME: join(tmp, 'home') });
  const oneLineError = (r: ReturnType<typeof cli>, pattern: RegExp) => {
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /^patchbench: /);
    assert.match(r.err, pattern);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
  };

  test('recomputes a project: the patch JSON schema, CSV, and --save updates the file', () => {
    const file = join(tmp, 'run.patchbench');
    const stale: Project = { ...project, provenance: { ...project.provenance!, date: '2020-01-01T00:00:00.000Z', appVersion: '0.0.1' } };
    saveProject(file, stale);
    const out = join(tmp, 'run.json');
    const csv = join(tmp, 'run.csv');
    const r = cli('run', file, '--out', out, '--csv', csv, '--save');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /against the saved results: max \|difference\|/);
    assert.doesNotMatch(r.err, /warning/);
    const got = JSON.parse(readFileSync(out, 'utf8'));
    const want = toJsonReport(result);
    assert.deepEqual(Object.keys(got), Object.keys(want));
    assert.deepEqual(got.tokens, want.tokens);
    assert.equal(got.direction, 'denoising');
    for (const k of REQ.kinds) {
      assert.deepEqual(got.kinds[k].map((x: any) => x.index), want.kinds[k].map((x) => x.index));
      assert.deepEqual(got.kinds[k].map((x: any) => Object.keys(x)), want.kinds[k].map((x) => Object.keys(x)));
      assertClose(got.kinds[k].map((x: any) => x.attribution), want.kinds[k].map((x) => x.attribution!), 1e-5, k);
      assert.equal(got.summary[k].verification.k, 3);
    }
    assert.equal(readFileSync(csv, 'utf8').split('\n')[0], 'label,kind,layer,head,pos,token,neuron,attribution,score_atp,activation,error');
    const saved = loadProject(file);
    assert.notEqual(saved.provenance!.date, stale.provenance!.date);
    assert.equal(saved.provenance!.appVersion, JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    assert.deepEqual(saved.view, project.view, 'the view state is kept');
    saved.results!.kinds.forEach((k, i) => assertClose(k.attribution!, result.kinds[i].attribution!, 1e-5, k.kind));
  });

  test('a missing model is a clear error; --model points at a copy', () => {
    const file = join(tmp, 'run-missing.patchbench');
    saveProject(file, { ...project, model: { ...project.model, path: join(tmp, 'moved-away') } });
    oneLineError(cli('run', file, '--out', join(tmp, 'x.json')), /run-missing\.patchbench: model "gpt2-tiny-random" not found: .*moved-away does not exist; pass --model DIR/);
    const r = cli('run', file, '--model', TINY, '--out', join(tmp, 'x.json'));
    assert.equal(r.code, 0, r.err);
  });

  test('a changed model: recomputed anyway, with a warning', () => {
    const dir = join(tmp, 'model-changing');
    mkdirSync(dir);
    for (const f of ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt']) cpSync(join(TINY, f), join(dir, f));
    const file = join(tmp, 'run-changed.patchbench');
    saveProject(file, { ...project, model: { ...project.model, path: dir } });
    const weights = readFileSync(join(dir, 'model.safetensors'));
    weights.writeFloatLE(weights.readFloatLE(weights.length - 4) * 2 + 0.5, weights.length - 4);
    writeFileSync(join(dir, 'model.safetensors'), weights);
    const r = cli('run', file, '--out', join(tmp, 'changed.json'), '--save');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /^patchbench: warning: model "gpt2-tiny-random" at .*model-changing has changed since the project was saved.*recomputing with it anyway$/m);
    assert.ok(existsSync(join(tmp, 'changed.json')));
    const saved = loadProject(file);
    assert.notEqual(saved.model.fingerprint, project.model.fingerprint, '--save records the model it ran on');
  });

  test('bad usage and bad files', () => {
    oneLineError(cli('run', good), /run needs --out FILE\.json, --csv FILE\.csv or --save/);
    oneLineError(cli('run', '--out', join(tmp, 'x.json')), /run needs one FILE\.patchbench/);
    oneLineError(cli('run', join(TINY, 'config.json'), '--out', join(tmp, 'x.json')), /config\.json: wrong magic: not a Patchbench project file \(it looks like JSON/);
    oneLineError(cli('run', variant('run-v7.patchbench', (h) => (h.schemaVersion = 7)), '--save'), /schemaVersion 7 is newer than this app supports \(2\); update Patchbench/);
  });
});

describe('the bundled example', () => {
  const example = join(ROOT, 'resources/examples/ioi-demo.patchbench');
  test('resources/examples/ioi-demo.patchbench opens, validates and matches its model', { skip: !existsSync(example) && 'not generated yet (npm run make:example)' }, async () => {
    const p = loadProject(example);
    const stored = (readContainer(readFileSync(example), example).header as any).model.path;
    assert.equal(p.settings.method, 'both');
    assert.ok(p.settings.kinds.includes('head_z'));
    assert.equal(p.pairs.length, p.results!.tokens.clean.length);
    const report = toJsonReport(resultFromProject(p)!);
    assert.ok(report.kinds.head_z.length > 0);
    if (stored === '../models/demo') {
      assert.equal(p.model.path, join(ROOT, 'resources/models/demo'));
      assert.equal(p.model.bundled, true);
      assert.equal(p.pairs.length, 16);
      const c = await checkModel(p);
      assert.equal(c.status, 'ok', c.message);
    }
  });
});
