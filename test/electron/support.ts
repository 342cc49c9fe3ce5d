/**
 * When the real-Electron test (`npm run test:electron`) can run, and why not. It needs Electron's
 * binary, and on Linux a display: the desktop's own, or a virtual one from `xvfb-run` (Debian's
 * `xvfb` package), which the runner then starts around the test.
 */
import { spawnSync } from 'node:child_process';
import { electronBinary } from '../../main/app/launch.ts';

export interface ElectronHere {
  /** the Electron executable, when installed */
  binary: string | undefined;
  platform: NodeJS.Platform;
  /** DISPLAY or WAYLAND_DISPLAY is set */
  display: boolean;
  /** `xvfb-run` is on the PATH */
  xvfbRun: boolean;
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export function electronHere(env: NodeJS.ProcessEnv = process.env): ElectronHere {
  return {
    binary: electronBinary(),
    platform: process.platform,
    display: !!(env.DISPLAY || env.WAYLAND_DISPLAY),
    xvfbRun: process.platform === 'linux' && hasCommand('xvfb-run'),
  };
}

/** How to run the test here: 'direct', 'xvfb' (inside `xvfb-run`), or { skip: the reason }. */
export function electronPlan(h: ElectronHere): 'direct' | 'xvfb' | { skip: string } {
  if (!h.binary) {
    return { skip: "Electron's binary is not installed (node_modules/electron/dist is missing: `npm ci` with network access to Electron's downloads installs it)" };
  }
  if (h.platform !== 'linux' || h.display) return 'direct';
  if (h.xvfbRun) return 'xvfb';
  return { skip: 'there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set) and xvfb-run is not installed (apt-get install xvfb)' };
}

/** The reason to skip the test in this process (already inside xvfb-run when the runner started it so), or false. */
export function electronSkipReason(h: ElectronHere = electronHere()): string | false {
  const plan = electronPlan(h);
  if (typeof plan === 'object') return plan.skip;
  if (plan === 'xvfb') return 'no display in this process: run it with `npm run test:electron`, which starts it inside xvfb-run';
  return false;
}
