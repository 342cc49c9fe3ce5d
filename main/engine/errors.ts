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
