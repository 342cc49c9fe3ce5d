/** Prompt pairs: reading them from JSONL and turning them into equal-length token batches. */
import { badInput } from '../errors.ts';
import type { HookedModel } from '../model.ts';
import type { PromptPair } from '../tasks/pairs.ts';
import type { TokenizedPairs } from './runs.ts';

export type { PromptPair };

/**
 * Parses JSONL text (one pair per line; blank lines skipped). `source` names the file in errors.
 * A UTF-8 byte-order mark is skipped, and lines may end in LF, CRLF or CR alone (old Mac editors).
 */
export function parsePairsJsonl(text: string, source: string): { pairs: PromptPair[]; labels: string[] } {
  const pairs: PromptPair[] = [];
  const labels: string[] = [];
  text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${source} line ${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw badInput(`${where}: not valid JSON (${(e as Error).message})`);
    }
    pairs.push(checkPair(obj, where));
    labels.push(where);
  });
  if (pairs.length === 0) throw badInput(`${source}: no pairs (the file is empty)`);
  return { pairs, labels };
}

export function checkPair(obj: unknown, where: string): PromptPair {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw badInput(`${where}: expected an object {"clean", "corrupted", "answer", "wrong"}`);
  const o = obj as Record<string, unknown>;
  for (const f of ['clean', 'corrupted', 'answer', 'wrong']) {
    if (typeof o[f] !== 'string') throw badInput(`${where}: field "${f}" must be a string`);
    if ((o[f] as string).length === 0) throw badInput(`${where}: field "${f}" is empty`);
  }
  return { clean: o.clean as string, corrupted: o.corrupted as string, answer: o.answer as string, wrong: o.wrong as string };
}

const show = (model: HookedModel, ids: number[]) => ids.map((i) => JSON.stringify(model.tokenizer.tokenString(i))).join(' ');

/** Tokenizes and validates pairs: equal lengths within and across pairs, single-token answers. */
export function tokenizePairs(model: HookedModel, pairs: PromptPair[], prependBos = true, labels?: string[]): TokenizedPairs {
  if (pairs.length === 0) throw badInput('no pairs given');
  const out: TokenizedPairs = { clean: [], corrupted: [], answer: [], wrong: [] };
  pairs.forEach((p, i) => {
    const where = labels?.[i] ?? `pair ${i + 1}`;
    const c = model.encodePrompt(p.clean, prependBos, `${where}: clean prompt`);
    const x = model.encodePrompt(p.corrupted, prependBos, `${where}: corrupted prompt`);
    if (c.length !== x.length) {
      throw badInput(
        `${where}: clean and corrupted prompts have different token lengths (${c.length} vs ${x.length}); patching needs them aligned.\n` +
          `  clean:     ${show(model, c)}\n  corrupted: ${show(model, x)}`,
      );
    }
    if (out.clean.length && c.length !== out.clean[0].length) {
      throw badInput(
        `${where}: prompts are ${c.length} tokens but ${labels?.[0] ?? 'pair 1'} has ${out.clean[0].length}; all pairs in a run must have the same length.\n` +
          `  clean: ${show(model, c)}`,
      );
    }
    for (const f of ['answer', 'wrong'] as const) {
      const ids = model.tokenizer.encodeContinuation(p[f], `${where}: ${f}`);
      if (ids.length !== 1) {
        throw badInput(`${where}: ${f} ${JSON.stringify(p[f])} is ${ids.length} tokens (${show(model, ids)}); it must be a single token`);
      }
      out[f].push(ids[0]);
    }
    if (out.answer[i] === out.wrong[i]) throw badInput(`${where}: answer and wrong are the same token ${JSON.stringify(p.answer)}`);
    out.clean.push(c);
    out.corrupted.push(x);
  });
  return out;
}
