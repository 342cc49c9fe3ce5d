/** An error the host answers with: a contract error code and a sentence for the user. */
import type { ErrorCode } from '../../shared/contract.ts';

export class HostError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'HostError';
    this.code = code;
  }
}
