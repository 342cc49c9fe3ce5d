/** Shared test helpers: the team's reference fixtures, backends, and tolerance checks. */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../main/engine/backend.ts';
import { PatchbenchError } from '../main/engine/errors.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Test checkpoints and their float64 expected values, kept in the repository (test/fixtures/README.md). */
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const TINY = FIXTURES + 'gpt2-tiny-random';

export function readJson<T = any>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Backends the engine tests run on: PATCHBENCH_TEST_BACKENDS, default wasm and cpu. */
export const TEST_BACKENDS = (process.env.PATCHBENCH_TEST_BACKENDS ?? 'wasm,cpu').split(',').filter(Boolean);

export async function useBackend(name: string): Promise<void> {
  await initBackend();
  assert.ok(await tf.setBackend(name), `backend ${name} should load`);
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= atol)) assert.fail(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (|diff| ${d.toExponential(2)} > ${atol})`);
  }
}

/** `fn` throws a 'bad-input' PatchbenchError whose message contains every fragment. */
export function throwsBadInput(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PatchbenchError, `expected a PatchbenchError, got ${e}`);
    assert.equal(e.code, 'bad-input');
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

/** Runs the `patchbench` command line as a user would, on wasm, with extra environment variables. */
export function runCli(args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/patchbench.mjs'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATCHBENCH_BACKEND: 'wasm', ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

