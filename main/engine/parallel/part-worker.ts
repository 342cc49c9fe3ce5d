/**
 * A worker thread with its own backend and its own copy of the model, running patching parts sent
 * by a PartPool. Messages: {type:'part', id, pairs, req} → progress…, then result or error;
 * {type:'cancel', id} aborts that part between batches.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend.ts';
import { PatchbenchError } from '../errors.ts';
import { HookedModel } from '../model.ts';
import { runPart } from '../patching/part.ts';
import type { WorkerMessage, WorkerReply } from './protocol.ts';

const port = parentPort!;
const post = (m: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const jobs = new Map<number, AbortController>();

try {
  await initBackend(workerData.backend);
  const model = await HookedModel.load(workerData.dir);
  port.on('message', async (m: WorkerMessage) => {
    if (m.type === 'cancel') {
      jobs.get(m.id)?.abort();
      return;
    }
    const ac = new AbortController();
    jobs.set(m.id, ac);
    try {
      const result = await runPart(model, m.pairs, m.req, { signal: ac.signal, onProgress: (progress) => post({ type: 'progress', id: m.id, progress }) });
      const arrays = [result.attribution, result.attributionQk, result.activation, ...Object.values(result.scores)].flatMap((m) => Object.values(m!));
      // one array may stand for two scores (atp_qk is atp outside head_q/head_k): transfer each buffer once
      const buffers = [...new Set(arrays.map((a) => a!.buffer as ArrayBuffer))];
      post({ type: 'result', id: m.id, result }, buffers);
    } catch (e) {
      const code = e instanceof PatchbenchError ? e.code : 'internal';
      post({ type: 'error', id: m.id, code, message: (e as Error).message });
    } finally {
      jobs.delete(m.id);
    }
  });
  post({ type: 'ready' });
} catch (e) {
  post({ type: 'error', id: -1, code: e instanceof PatchbenchError ? e.code : 'internal', message: (e as Error).message });
}
