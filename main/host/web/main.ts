/**
 * `npm run web -- [--port N]`: serves the built renderer and the engine on 127.0.0.1 and prints
 * the address, token included, as the first line on stdout.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Host } from '../host.ts';
import { startWebHost } from './server.ts';

function parsePort(argv: string[]): number {
  const i = argv.findIndex((a) => a === '--port' || a.startsWith('--port='));
  if (i < 0) return 0;
  const v = argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be a port number from 0 to 65535, got ${JSON.stringify(v)}`);
  return n;
}

async function main() {
  const rendererDir = fileURLToPath(new URL('../../../out/renderer', import.meta.url));
  if (!existsSync(`${rendererDir}/index.html`)) throw new Error(`the renderer is not built (${rendererDir}/index.html is missing); run \`npm run build:renderer\``);
  const port = parsePort(process.argv.slice(2));
  const host = new Host({ kind: 'web' });
  const web = await startWebHost({ host, rendererDir, port });
  process.stdout.write(`Patchbench is serving on ${web.url}\n`);
  process.stdout.write('Open it in a browser on this machine (or through an SSH tunnel); the token in the address is the password. Ctrl+C stops it.\n');
  host.on('engine:status', (s) => {
    if (s.state === 'crashed') process.stderr.write(`${s.message ?? 'the engine crashed'}\n`);
  });
  host.start().catch((e: Error) => process.stderr.write(`The engine could not start: ${e.message}\n`));
  const stop = async () => {
    await web.close();
    await host.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: Error) => {
  process.stderr.write(`patchbench web: ${e.message}\n`);
  process.exit(1);
});
