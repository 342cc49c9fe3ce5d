/**
 * Messages between the host (main thread) and the engine worker thread. The worker's methods
 * mirror the contract's engine channels; requests reach it already validated by the host.
 */
import type { CircuitRequest, CircuitResult, ErrorInfo, PatchingResult, PatchRequest, PromptPair, Req, Res } from '../../shared/contract.ts';

export interface WorkerMethods {
  catalog: { params: void; result: Res<'engine:catalog'> };
  load: { params: { dir: string }; result: Res<'model:load'> };
  current: { params: void; result: Res<'model:current'> };
  predict: { params: Req<'model:predict'>; result: Res<'model:predict'> };
  generate: { params: Req<'pairs:generate'>; result: Res<'pairs:generate'> };
  tokenize: { params: Req<'pairs:tokenize'>; result: Res<'pairs:tokenize'> };
  baseline: { params: Req<'pairs:baseline'>; result: Res<'pairs:baseline'> };
  parseJsonl: { params: Req<'pairs:parseJsonl'>; result: Res<'pairs:parseJsonl'> };
  patch: { params: { pairs: PromptPair[]; prependBos?: boolean; request: PatchRequest }; result: PatchingResult };
  /** a circuit job: edge scores, the circuit and its faithfulness, with provenance */
  circuit: { params: { pairs: PromptPair[]; prependBos?: boolean; request: CircuitRequest }; result: CircuitResult };
  /** token ids as strings, with the current model's tokenizer (to label a project's positions) */
  tokenStrings: { params: { ids: number[][] }; result: string[][] };
  /** for tests of crash recovery: makes the worker exit as a crash would, or fail as an exhausted wasm heap does */
  crash: { params: { exitCode: number } | { heap: true }; result: void };
}
export type Method = keyof WorkerMethods;

export type ToWorker =
  | { type: 'call'; id: number; method: Method; params: unknown }
  | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'ready'; backend: string }
  | { type: 'startFailed'; error: ErrorInfo }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: ErrorInfo }
  | { type: 'progress'; id: number; phase: string; done: number; total: number };
