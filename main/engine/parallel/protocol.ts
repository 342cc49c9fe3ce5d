/** Messages between a PartPool and its worker threads. */
import type { ErrorCode } from '../errors.ts';
import type { PartProgress, PartRequest, PartResult } from '../patching/part.ts';
import type { TokenizedPairs } from '../patching/runs.ts';

export type WorkerMessage = { type: 'part'; id: number; pairs: TokenizedPairs; req: PartRequest } | { type: 'cancel'; id: number };

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'progress'; id: number; progress: PartProgress }
  | { type: 'result'; id: number; result: PartResult }
  | { type: 'error'; id: number; code: ErrorCode; message: string };
