/**
 * `npm run bench`'s contract: its last stdout line is one JSON object with exactly the keys the
  const keys = ['backend', 'forward_s', 'attribution_s', 'attribution_with_neurons_s', 'attribution_qk_s', 'attribution_atp_star_s', 'activation_head_z_s', 'activation_resid_pre_s', 'eap_s', 'faithfulness_curve_s', 'peak_rss_bytes'];
 * are for benchmarks to report, not for tests to assert. Likewise `npm run bench:heap`'s summary.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, TINY } from './helpers.ts';

test('bench prints one JSON summary with exactly the agreed keys', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'main/bench/bench.ts'), '--model', TINY, '--pairs', '2', '--pos', '8', '--repeats', '1', '--threads', '1'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  const keys = ['backend', 'forward_s', 'attribution_s', 'attribution_with_neurons_s', 'attribution_qk_s', 'attribution_atp_star_s', 'activation_head_z_s', 'activation_resid_pre_s', 'eap_s', 'faithfulness_curve_s', 'peak_rss_bytes'];
  assert.deepEqual(Object.keys(summary).sort(), [...keys].sort());
  assert.match(summary.backend, /^(wasm|cpu|tensorflow)/);
  for (const k of keys.slice(1)) assert.ok(Number.isFinite(summary[k]) && summary[k] > 0, `${k} = ${summary[k]}`);
});

test('bench --only measures just the keys named (and forward_s), and names the valid keys for a wrong one', () => {
  const run = (only: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'main/bench/bench.ts'), '--model', TINY, '--pairs', '2', '--pos', '8', '--repeats', '1', '--threads', '1', '--only', only], {
      cwd: ROOT,
      encoding: 'utf8',
    });
  const r = run('attribution_s,eap_s');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.deepEqual(Object.keys(summary).sort(), ['attribution_s', 'backend', 'eap_s', 'forward_s', 'peak_rss_bytes']);
  const bad = run('attribution,eap_s');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--only attribution: not a measurement; use any of forward_s, attribution_s, .*faithfulness_curve_s/);
});

test('bench:heap reports the wasm heap after loading, activation and attribution patching', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'main/bench/heap.ts'), '--model', TINY, '--pairs', '2', '--pos', '8'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, PATCHBENCH_BACKEND: 'wasm' },
  });
  assert.equal(r.status, 0, r.stderr);
  const heap = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.equal(heap.model, 'gpt2-tiny-random');
  assert.ok(heap.loaded_gib > 0 && heap.loaded_gib <= heap.after_activation_gib && heap.after_activation_gib <= heap.after_attribution_gib, r.stdout);
});

test('bench --arch llama-3.2-1b is refused on wasm before its weights are made, with the size and what would run it', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'main/bench/bench.ts'), '--arch', 'llama-3.2-1b'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, PATCHBENCH_BACKEND: 'wasm' },
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /1236M parameters need 4\.60 GiB of float32 weights.*wasm backend's 4 GiB heap.*tfjs-node/);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.equal(summary.arch, 'llama-3.2-1b');
  assert.equal(summary.parameters, 1235814400);
  assert.ok(!existsSync(join(ROOT, '.cache', 'bench-llama-3.2-1b-random')), 'no weights were made');
});
