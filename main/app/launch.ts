/**
 * `npm start`: builds the app and launches it in Electron. Where Electron cannot start (its binary
 * was not installed, or there is no display) it says so in one line, names `npm run web`, and
 * exits with status 1, before building anything.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildAll } from './build.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The Electron executable, found the way the `electron` package finds it, but without its
 * fallback of downloading the binary on first use (which would hang or fail offline).
 */
export function electronBinary(): string | undefined {
  let pkgDir: string;
  try {
    pkgDir = dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  } catch {
    return undefined;
  }
  const pathFile = join(pkgDir, 'path.txt');
  const rel = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : undefined;
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) return join(process.env.ELECTRON_OVERRIDE_DIST_PATH, rel || 'electron');
  if (!rel) return undefined;
  const bin = join(pkgDir, 'dist', rel);
  return existsSync(bin) ? bin : undefined;
}

/** Why Electron cannot start here, or undefined when it should. */
export function cannotStart(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string | undefined {
  if (!electronBinary()) return "Electron's binary is not installed on this machine";
  if (platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY) return 'there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)';
  return undefined;
}

async function main() {
  const why = cannotStart();
  if (why) {
    process.stderr.write(`Patchbench cannot start the desktop app: ${why}; run \`npm run web\` to use Patchbench in a browser instead.\n`);
    process.exit(1);
  }
  await buildAll();
  const child = spawn(electronBinary()!, [root], { stdio: 'inherit' });
  child.on('error', (e) => {
    process.stderr.write(`Patchbench cannot start the desktop app: ${e.message}; run \`npm run web\` to use Patchbench in a browser instead.\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: Error) => {
    process.stderr.write(`Patchbench could not be built: ${e.message}\n`);
    process.exit(1);
  });
}
