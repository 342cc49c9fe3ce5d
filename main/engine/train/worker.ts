/**
 * Worker thread for the trainer: computes the gradient of its shard of each step against the
 * parameters the main thread shares through a SharedArrayBuffer, into its own shared gradient
 * buffer. Messages: in {chunks: Batch[]}, out ShardResult (or {error}).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend.ts';
import type { Batch } from './grad.ts';
import { paramLayout, type ArchConfig } from './params.ts';
import { runShard } from './shard.ts';

const { cfg, paramsBuffer, gradsBuffer } = workerData as { cfg: ArchConfig; paramsBuffer: SharedArrayBuffer; gradsBuffer: SharedArrayBuffer };
await initBackend();
const layout = paramLayout(cfg);
const params = new Float32Array(paramsBuffer);
const grads = new Float32Array(gradsBuffer);
parentPort!.on('message', (msg: { chunks: Batch[] }) => {
  try {
    const r = runShard(cfg, layout, params, msg.chunks, grads);
    parentPort!.postMessage(r, r.nll.map((x) => x.buffer as ArrayBuffer));
  } catch (e) {
    parentPort!.postMessage({ error: (e as Error).stack ?? String(e) });
  }
});
parentPort!.postMessage({ ready: true });
