// `npm start` where Electron cannot start: one line naming `npm run web`, a non-zero exit, no stack trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('without an Electron binary or a display, npm start says so in one line and exits 1', () => {
  // No display and an empty override path: whichever check trips, the answer must be the same shape.
  const env = { ...process.env, DISPLAY: '', WAYLAND_DISPLAY: '', ELECTRON_OVERRIDE_DIST_PATH: '' };
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'main/app/launch.ts'], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^Patchbench cannot start the desktop app: .+; run `npm run web` to use Patchbench in a browser instead\.$/);
});
