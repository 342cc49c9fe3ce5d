/**
 * Web-host error codes per the contract (bad-project for a damaged project, 400 for a malformed URL),
 * and project paths that are not regular files refused by name without blocking the host.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Host } from '../../main/host/host.ts';
import { startWebHost } from '../../main/host/web/server.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-web-errors-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('a damaged project file is bad-project, not internal', async () => {
  const host = new Host({ kind: 'web' });
  const path = join(tmp, 'broken.patchbench');
  writeFileSync(path, 'PATCHBENCH\0\x05\0\0\0\0\0\0\0{oops');
  const r = await host.invoke('project:open', { path });
  assert.ok(!r.ok);
  assert.equal(r.error.code, 'bad-project', r.error.message);
  assert.match(r.error.message, /broken\.patchbench: bad JSON in the header/);
});

test('a bad %-escape in a URL is 400, not 500', async () => {
  rmSync(join(tmp, 'r'), { recursive: true, force: true });
  const web = await startWebHost({ host: new Host({ kind: 'web' }), rendererDir: tmp });
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: web.port, path: `/${web.token}/%E0%A4%A`, headers: { host: `127.0.0.1:${web.port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 400);
  } finally {
    await web.close();
  }
});

test('opening a FIFO, a device or a folder named .patchbench is refused by name, without blocking the host', async () => {
  const host = new Host({ kind: 'web' });
  const fifo = join(tmp, 'pipe.patchbench');
  execFileSync('mkfifo', [fifo]);
  const device = join(tmp, 'zero.patchbench');
  symlinkSync('/dev/zero', device);
  const folder = join(tmp, 'folder.patchbench');
  mkdirSync(folder);
  {
    for (const [path, what] of [[fifo, 'a named pipe \\(FIFO\\)'], [device, 'a device'], [folder, 'a folder']]) {
      const r = await host.invoke('project:open', { path });
      assert.ok(!r.ok);
      assert.equal(r.error.code, 'bad-project');
      assert.match(r.error.message, new RegExp(`${path.replace(/\./g, '\\.')}: is ${what}, not a project file`));
    }
    // Saving over a FIFO is refused too, without opening it.
    const saved = await host.invoke('project:save', { path: fifo, doc: { pairs: [], settings: { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'attribution', prependBos: true }, modelDir: tmp, result: null, view: {} } });
    assert.ok(!saved.ok && /not a Patchbench project; refusing to overwrite it/.test(saved.error.message), JSON.stringify(saved));
  }
});

test('a save that fails leaves no new folders behind: a bad doc, a name too long to write', async () => {
  const host = new Host({ kind: 'web' });
  const model = new URL('../fixtures/gpt2-tiny-random', import.meta.url).pathname;
  const settings = { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'attribution', prependBos: true } as const;
  const cases = [
    { dir: 'bad-doc', name: 'p.patchbench', doc: { pairs: [{ clean: '', corrupted: 'x', answer: ' a', wrong: ' b' }], settings, modelDir: model, result: null, view: {} }, code: 'bad-project', message: /pairs\[0\]\.clean is empty/ },
    { dir: 'no-kinds', name: 'p.patchbench', doc: { pairs: [], settings: { ...settings, kinds: [] }, modelDir: model, result: null, view: {} }, code: 'bad-project', message: /settings\.kinds is empty/ },
    // The file's name fits, its temporary sibling's does not: the write itself fails.
    { dir: 'long-name', name: `${'n'.repeat(240)}.patchbench`, doc: { pairs: [], settings, modelDir: model, result: null, view: {} }, code: 'bad-input', message: /cannot save \(ENAMETOOLONG\)/ },
  ];
  for (const c of cases) {
    const r = await host.invoke('project:save', { path: join(tmp, c.dir, 'a', 'b', c.name), doc: c.doc });
    assert.ok(!r.ok, c.dir);
    assert.equal(r.error.code, c.code, r.error.message);
    assert.match(r.error.message, c.message);
    assert.equal(existsSync(join(tmp, c.dir)), false, `${c.dir}: no folder made`);
  }
  // Only the folders the save made go: one that was there before stays.
  mkdirSync(join(tmp, 'kept'));
  const r = await host.invoke('project:save', { path: join(tmp, 'kept', 'new', `${'n'.repeat(240)}.patchbench`), doc: cases[2].doc });
  assert.ok(!r.ok);
  assert.ok(existsSync(join(tmp, 'kept')) && !existsSync(join(tmp, 'kept', 'new')));
});
