/** Pairs as JSONL (one {clean, corrupted, answer, wrong} per line), the engine's and the CLI's format. */
import type { PromptPair } from '../../../shared/contract.ts';

export function pairsToJsonl(pairs: readonly PromptPair[]): string {
  return pairs.map((p) => JSON.stringify({ clean: p.clean, corrupted: p.corrupted, answer: p.answer, wrong: p.wrong })).join('\n') + '\n';
}
