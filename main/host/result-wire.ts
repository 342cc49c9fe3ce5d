/**
 * An engine PatchingResult in the contract's form, and back: Float32Array columns per kind, the
 * index dimensions named, and the first pair's tokens as strings so the UI can label positions
 * without a tokenizer. The arrays are shared, not copied.
 */
import type { KindResult, PatchingResult as WireResult } from '../../shared/contract.ts';
import type { PatchingResult } from '../engine/patching/index.ts';
import { KIND_SPECS } from '../engine/patching/components.ts';
import type { Tokenizer } from '../engine/tokenizer.ts';
import { HostError } from './errors.ts';

/** A kind's columns and summaries, named alike in the engine's result and the contract's; each optional. */
const KIND_FIELDS = ['attribution', 'activation', 'summary', 'verification', 'attributionQk', 'summaryQk', 'scores', 'recall'] as const;
type KindField = (typeof KIND_FIELDS)[number];

/** The KIND_FIELDS that `k` has. */
function kindFields<T extends { [F in KindField]?: unknown }>(k: T): Pick<T, KindField> {
  const out: Partial<Pick<T, KindField>> = {};
  for (const f of KIND_FIELDS) if (k[f]) out[f] = k[f];
  return out as Pick<T, KindField>;
}

export function toWire(r: PatchingResult, tokenizer: Tokenizer): WireResult {
  const strings = (ids: number[]) => ids.map((id) => tokenizer.tokenString(id));
  return wireResultFrom(r, { clean: strings(r.tokens.clean[0]), corrupted: strings(r.tokens.corrupted[0]) });
}

/** The contract's form of an engine result, with position labels from `strings` (the first pair's tokens). */
export function wireResultFrom(r: PatchingResult, strings: { clean: string[]; corrupted: string[] }): WireResult {
  const kinds: KindResult[] = r.kinds.map((k) => ({ kind: k.kind, dims: ['layer', ...KIND_SPECS[k.kind].dims], shape: k.shape, ...kindFields(k) }));
  return {
    direction: r.direction,
    metric: r.metric,
    positions: strings,
    pairCount: r.tokens.clean.length,
    kinds,
    backend: r.backend,
    seconds: r.seconds,
    tokens: r.tokens,
  };
}

/** The engine's result from the contract's form (a result without token ids cannot be saved). */
export function engineResultFromWire(r: WireResult): PatchingResult {
  if (!r.tokens) throw new HostError('bad-request', 'the result has no token ids; run it again to save it');
  return {
    direction: r.direction,
    metric: r.metric,
    tokens: r.tokens,
    kinds: r.kinds.map((k) => ({ kind: k.kind, shape: k.shape, ...kindFields(k) })),
    backend: r.backend,
    seconds: r.seconds,
  };
}
