/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
import type { Progress } from '../engine/patching/index.ts';

export function progressBar(stream: NodeJS.WriteStream = process.stderr): { update(p: Progress): void; done(): void } {
  if (!stream.isTTY) return { update() {}, done() {} };
  let last = 0;
  const t0 = performance.now();
  return {
    update(p) {
      const now = performance.now();
      if (now - last < 100 && p.done < p.total) return;
      last = now;
      const width = 30;
      const filled = Math.round((p.done / Math.max(1, p.total)) * width);
      const secs = ((now - t0) / 1000).toFixed(1);
      stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total} ${p.phase} ${secs}s\x1b[K`);
    },
    done() {
      stream.write('\r\x1b[K');
    },
  };
}
