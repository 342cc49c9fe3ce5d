/**
 * `npm run test:electron`: the real desktop app, driven through playwright-core's Electron support
 * (app.e2e.ts). On Linux without a display it runs inside `xvfb-run`. Where it cannot run it says
 * why on one line, "skipped: …", and exits 0: it is a check for machines that have Electron.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { electronHere, electronPlan } from './support.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const test = [process.execPath, '--import', 'tsx', '--test', '--test-concurrency=1', 'test/electron/app.e2e.ts'];

const plan = electronPlan(electronHere());
if (typeof plan === 'object') {
  process.stdout.write(`test:electron skipped: ${plan.skip}\n`);
  process.exit(0);
}
const [cmd, ...args] = plan === 'xvfb' ? ['xvfb-run', '--auto-servernum', '--server-args=-screen 0 1920x1080x24', ...test] : test;
const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
process.exit(r.status ?? 1);
