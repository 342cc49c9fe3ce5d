#!/usr/bin/env node
// Builds the optional native matmul (native/sgemm) with node-gyp; run by `npm ci` (postinstall).
// It needs a C++ compiler and Node's headers. Where they are missing the build fails, this script
// says so in one line and exits 0: the engine then uses TensorFlow.js's own kernels (slower).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../native/sgemm/', import.meta.url));
const addon = join(dir, 'build', 'Release', 'sgemm.node');
// npm puts its bundled node-gyp on PATH for scripts and names it in npm_config_node_gyp.
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp && existsSync(gyp) ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (r.status === 0 && existsSync(addon)) {
  process.stdout.write(`patchbench: built the native matmul (${addon})\n`);
} else {
  const why = r.error?.message || r.stderr?.trim().split('\n').slice(-3).join(' | ') || `exit code ${r.status}`;
  process.stdout.write(`patchbench: the native matmul did not build, so the engine will use TensorFlow.js's kernels (${why})\n`);
}
