/**
 * An engine PatchingResult in the contract's form: Float32Array columns per kind, the index
 * dimensions named, and the first pair's tokens as strings so the UI can label positions
 * without a tokenizer.
 */
import type { KindResult, PatchingResult as WireResult } from '../../shared/contract.ts';
import type { PatchingResult } from '../engine/patching/index.ts';
import { KIND_SPECS } from '../engine/patching/components.ts';
import type { Tokenizer } from '../engine/tokenizer.ts';

export function toWire(r: PatchingResult, tokenizer: Tokenizer): WireResult {
  const strings = (ids: number[]) => ids.map((id) => tokenizer.tokenString(id));
  return wireResultFrom(r, { clean: strings(r.tokens.clean[0]), corrupted: strings(r.tokens.corrupted[0]) });
}

/** The contract's form of an engine result, with position labels from `strings` (the first pair's tokens). */
export function wireResultFrom(r: PatchingResult, strings: { clean: string[]; corrupted: string[] }): WireResult {
  const kinds: KindResult[] = r.kinds.map((k) => ({
    kind: k.kind,
    dims: ['layer', ...KIND_SPECS[k.kind].dims],
    shape: k.shape,
    ...(k.attribution ? { attribution: k.attribution } : {}),
    ...(k.activation ? { activation: k.activation } : {}),
    ...(k.summary ? { summary: k.summary } : {}),
    ...(k.verification ? { verification: k.verification } : {}),
    ...(k.attributionQk ? { attributionQk: k.attributionQk } : {}),
    ...(k.summaryQk ? { summaryQk: k.summaryQk } : {}),
    ...(k.scores ? { scores: k.scores } : {}),
    ...(k.recall ? { recall: k.recall } : {}),
  }));
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
