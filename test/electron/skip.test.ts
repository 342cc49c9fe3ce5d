// `npm run test:electron` where it cannot run: skipped, with the reason, and exit 0. (The real test,
// app.e2e.ts, is type-checked with the rest; it runs where Electron's binary is installed.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { ROOT } from '../helpers.ts';
import { electronHere, electronPlan, electronSkipReason, type ElectronHere } from './support.ts';

const here: ElectronHere = { binary: '/opt/electron/electron', platform: 'linux', display: true, xvfbRun: false };

test('the plan: skipped without the binary; on Linux a display, else xvfb-run, else skipped', () => {
  const noBinary = electronPlan({ ...here, binary: undefined });
  assert.ok(typeof noBinary === 'object');
  assert.match(noBinary.skip, /^Electron's binary is not installed \(node_modules\/electron\/dist is missing/);
  assert.equal(electronPlan(here), 'direct');
  assert.equal(electronPlan({ ...here, platform: 'darwin', display: false }), 'direct');
  assert.equal(electronPlan({ ...here, display: false, xvfbRun: true }), 'xvfb');
  const noDisplay = electronPlan({ ...here, display: false });
  assert.ok(typeof noDisplay === 'object');
  assert.match(noDisplay.skip, /no display .* xvfb-run is not installed \(apt-get install xvfb\)/);
  // Inside the test file itself: no skip where it can run directly; a display-less run is sent to the runner.
  assert.equal(electronSkipReason(here), false);
  assert.match(electronSkipReason({ ...here, display: false, xvfbRun: true }) as string, /npm run test:electron/);
});

const installed = electronHere().binary;
test('npm run test:electron, without Electron’s binary, says it is skipped and why, and exits 0', { skip: installed ? `Electron is installed here (${installed}): npm run test:electron runs the real test` : false }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/electron/run.ts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "test:electron skipped: Electron's binary is not installed (node_modules/electron/dist is missing: `npm ci` with network access to Electron's downloads installs it)\n");
  // The test file run on its own skips with the same reason.
  // (Without NODE_TEST_CONTEXT, which would make the child report to this runner instead of printing.)
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const t = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', 'test/electron/app.e2e.ts'], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(t.status, 0, t.stdout + t.stderr);
  assert.match(t.stdout, /# SKIP Electron's binary is not installed/);
  assert.match(t.stdout, /# fail 0\n/);
});
