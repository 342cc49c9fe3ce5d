/**
 * Builds the desktop app into out/: the renderer (Vite), and the main process, preload and engine
 * worker (esbuild, from main/app, main/host, main/engine and shared). Dependencies stay in
 * node_modules (TensorFlow.js finds its .wasm files and native bindings there).
 *
 *   out/renderer/            the page
 *   out/app/main.js          Electron main process (ESM)
 *   out/app/preload.cjs      preload (CommonJS: sandboxed preloads cannot load modules)
 *   out/app/engine-worker.js the engine's worker thread
 *   out/app/worker-entry.mjs the patching pool's worker threads (parallel/part-worker.ts, bundled:
 *                            the pool starts `./worker-entry.mjs` beside the bundled engine worker,
 *                            which in the source tree is the tsx loader of part-worker.ts)
 */
import { build as esbuild, type BuildOptions } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { build as viteBuild } from 'vite';

const root = fileURLToPath(new URL('../../', import.meta.url));
const at = (p: string) => root + p;

export async function buildRenderer(): Promise<void> {
  await viteBuild({ configFile: at('vite.config.ts'), logLevel: 'warn' });
}

/** `outDir` must lie inside the project (the bundles find their dependencies in its node_modules). */
export async function buildMain(outDir = at('out/app')): Promise<void> {
  const common: BuildOptions = { bundle: true, platform: 'node', target: 'node22', sourcemap: true, logLevel: 'warning', packages: 'external' };
  const out = (f: string) => `${outDir}/${f}`;
  await Promise.all([
    esbuild({ ...common, entryPoints: [at('main/app/main.ts')], outfile: out('main.js'), format: 'esm' }),
    esbuild({ ...common, entryPoints: [at('main/host/engine-worker.ts')], outfile: out('engine-worker.js'), format: 'esm' }),
    esbuild({ ...common, entryPoints: [at('main/engine/parallel/part-worker.ts')], outfile: out('worker-entry.mjs'), format: 'esm' }),
    esbuild({ ...common, entryPoints: [at('main/app/preload.ts')], outfile: out('preload.cjs'), format: 'cjs', sourcemap: false }),
  ]);
}

export async function buildAll(): Promise<void> {
  await Promise.all([buildRenderer(), buildMain()]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildAll().catch((e: Error) => {
    process.stderr.write(`build failed: ${e.message}\n`);
    process.exit(1);
  });
}
