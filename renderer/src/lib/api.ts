/** Calls through the transport that throw a readable ApiError instead of returning {ok: false}. */
import type { Channel, ErrorCode, Req, Res, Transport } from '../../../shared/contract.ts';

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type Call = <C extends Channel>(channel: C, request: Req<C>) => Promise<Res<C>>;

export function caller(t: Transport): Call {
  return async (channel, request) => {
    const a = await t.invoke(channel, request);
    if (!a.ok) throw new ApiError(a.error.code, a.error.message);
    return a.value;
  };
}

export const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
