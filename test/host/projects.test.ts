// Project files through the host: save and reopen value for value, path rules, a broken file, a
// missing model, autosave and recovery, recent files and examples; and the packaged app's build,
// whose bundled engine worker patches a model on the bundled thread-pool worker.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { CHANNELS, OPENED_VIEW_MAX_CHARS, savedBack, VIEW_MAX_CHARS, type OpenedProject, type PatchingResult, type ProjectDoc } from '../../shared/contract.ts';
import { saveProject, type Project } from '../../main/engine/project/index.ts';
import { readContainer, writeContainer } from '../../main/engine/project/format.ts';
import { EngineClient } from '../../main/host/engine-client.ts';
import { HostError } from '../../main/host/errors.ts';
import { Projects } from '../../main/host/projects.ts';

const MODEL = new URL('../fixtures/gpt2-tiny-random', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'patchbench-host-projects-'));
const saved = { ...process.env };
let engine: EngineClient;
let projects: Projects;
let result: PatchingResult;
let doc: ProjectDoc;

before(async () => {
  process.env.PATCHBENCH_HOME = join(work, 'home');
  process.env.PATCHBENCH_EXAMPLES = join(work, 'examples');
  process.env.PATCHBENCH_PROJECTS = join(work, 'projects');
  mkdirSync(process.env.PATCHBENCH_EXAMPLES, { recursive: true });
  engine = new EngineClient();
  await engine.start();
  await engine.call('load', { dir: MODEL }).result;
  projects = new Projects(engine);
  const pairs = await engine.call('generate', { task: 'ioi', n: 4, seed: 2 }).result;
  const request = { direction: 'denoising' as const, metric: 'logit-diff' as const, kinds: ['resid_pre' as const, 'head_z' as const], method: 'both' as const };
  result = await engine.call('patch', { pairs, request }).result;
  doc = { pairs, settings: { ...request, prependBos: true }, modelDir: MODEL, result, provenance: null, view: { theme: 'dark', selected: { kind: 'head_z', index: 3 } } };
});
after(async () => {
  await engine.stop();
  process.env = saved;
});

const values = (r: PatchingResult | null) => JSON.stringify(r?.kinds.map((k) => [k.kind, k.shape, k.dims, Array.from(k.attribution ?? []), Array.from(k.activation ?? []).map(String), k.summary]));

test('a saved project reopens with identical results, pairs, settings and view state', async () => {
  assert.equal(projects.files().firstStart, true);
  const r = await projects.save(join(work, 'a', 'first.patchbench'), doc);
  assert.deepEqual(r, { path: join(work, 'a', 'first.patchbench'), name: 'first' });
  const p: OpenedProject = await projects.open(r.path);
  assert.equal(values(p.result), values(result));
  assert.deepEqual(p.result!.positions, result.positions, 'positions labelled with the model’s tokenizer');
  assert.deepEqual(p.result!.tokens, result.tokens);
  assert.equal(p.result!.metric.clean, result.metric.clean);
  assert.deepEqual(p.pairs, doc.pairs);
  assert.deepEqual(p.settings, doc.settings);
  assert.deepEqual(p.view, doc.view);
  assert.equal(p.model.status, 'ok');
  assert.equal(p.loaded?.name, 'gpt2-tiny-random');
  assert.equal(p.path, r.path);
  assert.equal(p.recovered, false);
  assert.equal(p.provenance?.backend, result.backend);
  // Saved again from what was opened: the provenance stays as it was.
  await projects.save(r.path, { ...doc, result: p.result, provenance: p.provenance });
  assert.equal((await projects.open(r.path)).provenance?.date, p.provenance?.date);
  const files = projects.files();
  assert.equal(files.firstStart, false);
  assert.deepEqual(files.recent.map((f) => f.name), ['first']);
  assert.equal(files.last, r.path);
  // A relative path goes in the projects folder.
  const rel = await projects.save('sub/rel.patchbench', { ...doc, result: null });
  assert.equal(rel.path, join(work, 'projects', 'sub', 'rel.patchbench'));
  assert.equal((await projects.open(rel.path)).result, null);
});

test('only .patchbench files are read or written, and only project files are overwritten', async () => {
  await assert.rejects(projects.save(join(work, 'x.json'), doc), (e: HostError) => e.code === 'bad-input' && /end in \.patchbench/.test(e.message));
  await assert.rejects(projects.open('/etc/passwd'), (e: HostError) => /end in \.patchbench/.test(e.message));
  const other = join(work, 'notes.patchbench');
  writeFileSync(other, 'my notes');
  await assert.rejects(projects.save(other, doc), (e: HostError) => /not a Patchbench project; refusing to overwrite it/.test(e.message));
  assert.equal(readFileSync(other, 'utf8'), 'my notes');
  await assert.rejects(projects.save(join(work, 'examples', 'mine.patchbench'), doc), /bundled example/);
});

test('a broken project file is an error that names it', async () => {
  const broken = join(work, 'broken.patchbench');
  writeFileSync(broken, Buffer.from('PATCHBENCH\0garbage'));
  await assert.rejects(projects.open(broken), (e: Error & { code?: string }) => e.code === 'bad-project' && e.message.startsWith(broken));
  await assert.rejects(projects.open(join(work, 'none.patchbench')), /no such file/);
});

test('a project whose model is gone opens with its results and says so', async () => {
  const copy = join(work, 'model-copy');
  cpSync(MODEL, copy, { recursive: true });
  const file = join(work, 'gone.patchbench');
  await projects.save(file, { ...doc, modelDir: copy });
  rmSync(copy, { recursive: true });
  const p = await projects.open(file);
  assert.equal(p.model.status, 'missing');
  assert.match(p.model.message, /model "model-copy" not found: .*model-copy does not exist/);
  assert.equal(p.loaded, null);
  assert.equal(values(p.result), values(result));
  assert.match(p.result!.positions.clean[1], /^#\d+$/, 'token ids stand in for the strings');
  // Saved again (results and all) while the model is still gone: its reference is kept as it was;
  // without results, a missing model cannot be described.
  const again = join(work, 'gone-again.patchbench');
  await projects.save(again, { ...doc, modelDir: p.model.dir, result: p.result, provenance: p.provenance });
  const q = await projects.open(again);
  assert.equal(q.model.status, 'missing');
  assert.equal(values(q.result), values(result));
  await assert.rejects(projects.save(again, { ...doc, modelDir: p.model.dir, result: null }), /cannot be described for saving/);
});

test('results saved again keep the fingerprint of the model that computed them, even after it changed', async () => {
  const copy = join(work, 'model-changing');
  cpSync(MODEL, copy, { recursive: true });
  const file = join(work, 'changing.patchbench');
  await projects.save(file, { ...doc, modelDir: copy });
  writeFileSync(join(copy, 'config.json'), readFileSync(join(copy, 'config.json'), 'utf8') + '\n');
  const p = await projects.open(file);
  assert.equal(p.model.status, 'changed');
  await projects.save(file, { ...doc, modelDir: p.model.dir, result: p.result, provenance: p.provenance });
  assert.equal((await projects.open(file)).model.status, 'changed', 'still said: these results are from the model as it was');
  // New results from the changed model carry its new fingerprint.
  await projects.save(file, { ...doc, modelDir: p.model.dir, provenance: { ...p.provenance!, date: new Date().toISOString() } });
  assert.equal((await projects.open(file)).model.status, 'ok');
});

test('an example opens as an untitled copy and is not remembered as the last project', async () => {
  const ex = join(work, 'examples', 'demo.patchbench');
  await projects.save(join(work, 'tmp-example.patchbench'), doc);
  cpSync(join(work, 'tmp-example.patchbench'), ex);
  assert.deepEqual(projects.files().examples.map((e) => e.name), ['demo']);
  const p = await projects.open(ex);
  assert.equal(p.example, true);
  assert.equal(p.path, null);
  assert.equal(p.name, 'demo');
  // A file the desktop app was started to open is reported once.
  projects.startupFile = ex;
  assert.equal(projects.files().startup, ex);
  assert.equal(projects.files().startup, null);
});

const BUNDLED_EXAMPLE = new URL('../../resources/examples/ioi-demo.patchbench', import.meta.url).pathname;
test('the bundled example opens on the bundled demo model, with results', { skip: existsSync(BUNDLED_EXAMPLE) ? false : 'resources/examples/ioi-demo.patchbench is not there yet' }, async () => {
  const examples = process.env.PATCHBENCH_EXAMPLES;
  const demo = process.env.PATCHBENCH_DEMO_MODEL;
  process.env.PATCHBENCH_EXAMPLES = join(BUNDLED_EXAMPLE, '..');
  delete process.env.PATCHBENCH_DEMO_MODEL;
  try {
    const p = await projects.open(BUNDLED_EXAMPLE);
    assert.equal(p.example, true);
    assert.equal(p.path, null, 'an untitled copy: Save asks where');
    assert.equal(p.model.status, 'ok', p.model.message);
    assert.equal(p.loaded?.name, 'demo');
    assert.ok(p.result && p.result.kinds.length > 0);
    assert.ok(p.result.kinds.some((k) => k.summary), 'both methods: the scatter plots have their correlations');
    assert.doesNotMatch(p.result.positions.clean.join(''), /#\d/, 'positions labelled with the demo tokenizer');
  } finally {
    process.env.PATCHBENCH_EXAMPLES = examples;
    if (demo !== undefined) process.env.PATCHBENCH_DEMO_MODEL = demo;
    await engine.call('load', { dir: MODEL }).result;
  }
});

test('autosave writes a recovery copy; recovery opens it as unsaved changes of its project; a save clears it', async () => {
  const file = join(work, 'b.patchbench');
  await projects.save(file, doc);
  await new Promise((r) => setTimeout(r, 20));
  const changed = { ...doc, pairs: doc.pairs.slice(0, 2), result: null };
  const auto = await projects.autosave(file, changed);
  assert.ok(auto && existsSync(auto));
  const untitled = await projects.autosave(null, doc);
  const list = projects.recovery();
  assert.deepEqual(new Set(list.map((r) => r.path)), new Set([auto, untitled]));
  const mine = list.find((r) => r.path === auto)!;
  assert.equal(mine.projectPath, file);
  assert.equal(mine.newer, true);
  const p = await projects.open(auto!);
  assert.equal(p.recovered, true);
  assert.equal(p.path, file, 'Save writes to the project, not the autosave');
  assert.equal(p.pairs.length, 2);
  await projects.save(file, changed);
  assert.equal(existsSync(auto!), false, 'saving the project removes its autosave');
  assert.equal(existsSync(untitled!), false, 'and the untitled one it came from');
  const again = await projects.autosave(null, doc);
  await projects.autosave(null, null);
  assert.equal(existsSync(again!), false, 'null deletes the autosave');
  assert.throws(() => projects.discardRecovery(file), /refusing to delete it/);
});

test('a project that opens can be saved back: at each limit of project:save it does both, one past it it is refused on opening by name', async () => {
  const base = await projects.toProject({ ...doc, result: null });
  const write = (name: string, changes: Partial<Project>) => {
    const file = join(work, 'limits', `${name}.patchbench`);
    mkdirSync(dirname(file), { recursive: true });
    saveProject(file, { ...base, ...changes });
    return file;
  };
  /** Opens `file` and saves it back through the contract's check, as the UI would. */
  const roundTrip = async (file: string) => {
    const p = await projects.open(file);
    const req = CHANNELS['project:save'].request.parse({ path: file, doc: savedBack(p) }, 'request');
    await projects.save(req.path, req.doc);
    return p;
  };
  const pair = doc.pairs[0];
  const long = 'x'.repeat(20_000);
  const atLimits: [string, Partial<Project>][] = [
    ['pairs-10000', { pairs: Array(10_000).fill(pair) }],
    ['text-20000', { pairs: [{ ...pair, clean: long, corrupted: long, answer: 'a'.repeat(1000), wrong: 'w'.repeat(1000) }] }],
    ['verify-100000', { settings: { ...base.settings, verifyTop: 100_000, recallK: 100_000 } }],
  ];
  for (const [name, changes] of atLimits) await roundTrip(write(name, changes));
  const pastLimits: [string, Partial<Project>, RegExp][] = [
    ['pairs-10001', { pairs: Array(10_001).fill(pair) }, /: pairs has 10001 items; at most 10000 are allowed\./],
    ['text-20001', { pairs: [{ ...pair, clean: long + 'x' }] }, /: pairs\[0\]\.clean is longer than 20000 characters\./],
    ['answer-1001', { pairs: [{ ...pair, answer: 'a'.repeat(1001) }] }, /: pairs\[0\]\.answer is longer than 1000 characters\./],
    ['verify-100001', { settings: { ...base.settings, verifyTop: 100_001 } }, /: settings\.verifyTop must be an integer from 1 to 100000, but is number 100001\./],
  ];
  for (const [name, changes, message] of pastLimits) {
    const file = write(name, changes);
    await assert.rejects(projects.open(file), (e: HostError) => {
      assert.equal(e.code, 'bad-project');
      assert.ok(e.message.startsWith(`${file}: `), e.message);
      assert.match(e.message, message);
      assert.match(e.message, /opens only projects it can save again/);
      return true;
    });
  }
  // The view state: kept up to the opening limit, which leaves the UI room below the saving one.
  const viewOfLength = (n: number) => ({ pad: 'v'.repeat(n - JSON.stringify({ pad: '' }).length) });
  const atView = await roundTrip(write('view-max', { view: viewOfLength(OPENED_VIEW_MAX_CHARS) }));
  assert.equal(JSON.stringify(atView.view).length, OPENED_VIEW_MAX_CHARS);
  assert.deepEqual(atView.warnings, []);
  assert.ok(VIEW_MAX_CHARS - OPENED_VIEW_MAX_CHARS >= 100_000, 'room for the defaults the UI fills in');
  const viewFile = write('view-over', { view: viewOfLength(OPENED_VIEW_MAX_CHARS + 1) });
  const overView = await roundTrip(viewFile);
  assert.deepEqual(overView.view, {});
  assert.deepEqual(overView.warnings, [`${viewFile}: view is larger than ${OPENED_VIEW_MAX_CHARS} bytes as JSON, more than this app keeps; it opened with the default view (tab, selection, table order)`]);
});

test('unknown keys in a project file come back as warnings naming the key and the file', async () => {
  const file = join(work, 'misspelled.patchbench');
  await projects.save(file, { ...doc, result: null });
  const { header } = readContainer(readFileSync(file), file);
  const h = header as { settings: Record<string, unknown> } & Record<string, unknown>;
  h.settings.verifyTopp = 5;
  h.colour = 'blue';
  writeFileSync(file, Buffer.concat(writeContainer(h, [])));
  const p = await projects.open(file);
  assert.deepEqual(p.warnings, [
    `${file}: unknown key colour is ignored (misspelled, or written by a newer Patchbench?)`,
    `${file}: unknown key settings.verifyTopp is ignored (misspelled, or written by a newer Patchbench?)`,
  ]);
  assert.deepEqual(p.settings, doc.settings);
  assert.deepEqual((await projects.open(join(work, 'a', 'first.patchbench'))).warnings, [], 'a file without them has none');
});
