/**
 * For the browser tests: a renderer build that is not older than its sources (built once per test
 * run, only when stale), and a real `npm run web` host process on the tiny fixture model.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURE_MODEL = fileURLToPath(new URL('../../fixtures/gpt2-tiny-random', import.meta.url));

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((m, f) => Math.max(m, newestMtime(join(path, f))), 0);
}

export function ensureRendererBuilt(): void {
  const index = join(ROOT, 'out/renderer/index.html');
  const sources = Math.max(newestMtime(join(ROOT, 'renderer')), newestMtime(join(ROOT, 'shared')), newestMtime(join(ROOT, 'vite.config.ts')));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const vite = join(ROOT, 'node_modules/vite/bin/vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
}

export interface RunningHost {
  url: string;
  port: number;
  token: string;
  home: string;
  stderr: () => string;
  stop(): Promise<void>;
}

/**
 * Starts `main/host/web/main.ts` as `npm run web` would, with its settings, its examples folder
 * (empty unless given) and its projects folder in a temp folder.
 */
export async function startWebHost(o: { home?: string; examples?: string } = {}): Promise<RunningHost> {
  const home = o.home ?? mkdtempSync(join(tmpdir(), 'patchbench-e2e-'));
  const examples = o.examples ?? join(home, 'no-examples');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'main/host/web/main.ts', '--port', '0'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PATCHBENCH_DEMO_MODEL: FIXTURE_MODEL,
      PATCHBENCH_HOME: home,
      PATCHBENCH_EXAMPLES: examples,
      PATCHBENCH_PROJECTS: join(home, 'projects'),
      HF_HUB_CACHE: join(home, 'hf-empty'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the web host printed no address within 30 s; stderr:\n${err}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /serving on (http:\/\/127\.0\.0\.1:\d+\/[^/\s]+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`the web host exited (${code}) before printing its address:\n${err}`)));
  });
  const u = new URL(url);
  return {
    url,
    port: Number(u.port),
    token: u.pathname.split('/')[1],
    home,
    stderr: () => err,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.on('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
