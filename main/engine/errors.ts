/**
 * Errors a user can act on. Each names what was wrong (a file, a field, a line) and why, so the
 * command line prints `message` alone and the app shows it next to the thing that caused it.
 */
export type ErrorCode =
  | 'bad-model' // a model folder, config.json or weight file is missing or malformed
  | 'bad-tokenizer' // tokenizer files missing or malformed
  | 'bad-input' // a prompt, pair, option or request is invalid
  | 'bad-project' // a project file is malformed
  | 'cancelled' // the job was cancelled by its AbortSignal
  | 'internal';

export class PatchbenchError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'PatchbenchError';
    this.code = code;
  }
}

export const badModel = (message: string) => new PatchbenchError('bad-model', message);
export const badTokenizer = (message: string) => new PatchbenchError('bad-tokenizer', message);
export const badInput = (message: string) => new PatchbenchError('bad-input', message);

/** Throws the standard cancellation error when `signal` has been aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new PatchbenchError('cancelled', 'cancelled');
}

/**
 * Failures after which the compute backend cannot be trusted: the wasm heap ran out or was
 * corrupted (tfjs-wasm aborts, or traps with "memory access out of bounds"), an allocation failed,
 * or a worker thread holding a share of the work died. Only a fresh engine recovers from them.
 */
export function isEngineFailure(e: unknown): boolean {
  if (e instanceof EngineFailure || (WasmRuntimeError && e instanceof WasmRuntimeError)) return true;
  return isOutOfMemory(e) || /engine worker (failed|exited)/.test(firstLine(e));
}

/** The ways tfjs-wasm, V8 and the native matmul say that memory ran out. */
export const isOutOfMemory = (e: unknown) => /Aborted\(|memory access out of bounds|out of memory|allocation failed|Cannot allocate/i.test(firstLine(e));

const WasmRuntimeError: ErrorConstructor | undefined = (globalThis as unknown as { WebAssembly?: { RuntimeError: ErrorConstructor } }).WebAssembly?.RuntimeError;

/** An engine failure, said in words (see isEngineFailure). */
export class EngineFailure extends PatchbenchError {
  constructor(message: string) {
    super('internal', message);
  }
}

/**
 * An engine failure during a job, said in words: "the engine ran out of memory {where} (…); {advice}".
 * Any other error, or one already said in words, comes back as it was. For the caller to throw.
 */
export function engineFailureInWords(e: unknown, where: string, advice: string): unknown {
  if (!isEngineFailure(e) || e instanceof EngineFailure) return e;
  const what = isOutOfMemory(e) ? 'ran out of memory' : 'failed';
  return new EngineFailure(`the engine ${what} ${where} (${firstLine(e)}); ${advice}`);
}

/** The first line of an error's message, for quoting in another message. */
export const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 200);
