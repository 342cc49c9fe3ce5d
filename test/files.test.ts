/**
 * Files a user owns: no command writes its report over a project or a model file, saving respects a
 * read-only file by its mode bits (the tests may run as root, where access checks always pass), and
 * the temporary files of interrupted saves are removed at the next save or start.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { removeStaleTemps } from '../main/engine/files.ts';
import { loadProject, saveProject } from '../main/engine/project/index.ts';
import { recoveryDir } from '../main/engine/project/recovery.ts';
import { Host } from '../main/host/host.ts';
import { ROOT, runCli } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-owned-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const EXAMPLE = join(ROOT, 'resources/examples/ioi-demo.patchbench');
const DEMO = join(ROOT, 'resources/models/demo');

function project(name: string): string {
  const p = join(tmp, name);
  copyFileSync(EXAMPLE, p);
  return p;
}

test('no command writes its report over a project or a model file, and says so before any work', () => {
  const p = project('p.patchbench');
  const before = readFileSync(p);
  // A model folder of the user's: its config.json and weights.
  const model = join(tmp, 'model');
  mkdirSync(model);
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(DEMO, f), join(model, f));
  const cases: [string[], RegExp][] = [
    [['run', p, '--out', p], /--out .*p\.patchbench: is a Patchbench project; refusing to write over it \(to store results in a project, use `patchbench run FILE\.patchbench --save`\)/],
    [['pairs', '--task', 'ioi', '--n', '2', '--out', p], /--out .*p\.patchbench: is a Patchbench project/],
    [['patch', '--kinds', 'head_z', '--out', p], /--out .*p\.patchbench: is a Patchbench project/],
    [['patch', '--kinds', 'head_z', '--csv', join(model, 'config.json')], /--csv .*config\.json: is a model's file/],
    [['patch', '--kinds', 'head_z', '--out', join(model, 'model.safetensors')], /model\.safetensors: is a model's file/],
  ];
  // Renamed, a project is still recognised by its magic bytes.
  const renamed = join(tmp, 'renamed.json');
  copyFileSync(EXAMPLE, renamed);
  cases.push([['patch', '--kinds', 'head_z', '--out', renamed], /renamed\.json: is a Patchbench project/]);
  for (const [args, message] of cases) {
    const r = runCli(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
  }
  assert.ok(readFileSync(p).equals(before), 'the project is untouched');
  assert.ok(readFileSync(join(model, 'config.json')).equals(readFileSync(join(DEMO, 'config.json'))));
  assert.ok(readFileSync(renamed).equals(before));
});

test('--save and the host refuse a read-only project, judged by its mode bits', async () => {
  const p = project('readonly.patchbench');
  chmodSync(p, 0o444);
  const before = readFileSync(p);
  const r = runCli(['run', p, '--save']);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /readonly\.patchbench: is read-only \(mode 0444\); refusing to replace it/);
  assert.throws(() => saveProject(p, loadProject(EXAMPLE)), /is read-only \(mode 0444\)/);
  assert.ok(readFileSync(p).equals(before));
  assert.equal(statSync(p).mode & 0o777, 0o444);
  chmodSync(p, 0o644);
  saveProject(p, loadProject(EXAMPLE)); // writable again: saved
});

test('temporary files of interrupted saves are removed at the next save; a running save keeps its own', () => {
  const p = project('t.patchbench');
  const stale = join(tmp, '.t.patchbench.999999999-0badf00d.tmp'); // no such process
  const running = join(tmp, `.t.patchbench.${process.pid}-0000beef.tmp`);
  const other = join(tmp, '.other.patchbench.999999999-0badf00d.tmp');
  for (const f of [stale, running, other]) writeFileSync(f, 'x'.repeat(1000));
  saveProject(p, loadProject(EXAMPLE));
  assert.ok(!existsSync(stale), 'the stale temporary file of this project is gone');
  assert.ok(existsSync(running), "a live process's temporary file stays");
  assert.ok(existsSync(other), "another file's is left for its own save (or the next start)");
  assert.deepEqual(removeStaleTemps(tmp), [other]);
  rmSync(running);
});

test('the host removes temporary files of interrupted saves at start', async () => {
  const home = join(tmp, 'home');
  const old = process.env.PATCHBENCH_HOME;
  process.env.PATCHBENCH_HOME = home;
  try {
    mkdirSync(recoveryDir(), { recursive: true });
    const stale = join(recoveryDir(), '.untitled.patchbench.999999999-00c0ffee.tmp');
    writeFileSync(stale, 'x');
    const host = new Host({ kind: 'web' });
    await host.start();
    await host.stop();
    assert.ok(!existsSync(stale));
  } finally {
    if (old === undefined) delete process.env.PATCHBENCH_HOME;
    else process.env.PATCHBENCH_HOME = old;
  }
});
