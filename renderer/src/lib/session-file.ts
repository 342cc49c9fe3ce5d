/**
 * Part 1's stand-in for project files: the pairs and run settings as JSON, so Open/Save work now.
 * Versioned so the real project format (part 2) can recognise and migrate these.
 */
import { DIRECTIONS, KIND_NAMES, METRIC_NAMES, promptPair, type PromptPair } from '../../../shared/contract.ts';
import { s, type Infer } from '../../../shared/schema.ts';

export const RUN_METHODS = ['attribution', 'activation', 'both', 'verify'] as const;
export type RunMethod = (typeof RUN_METHODS)[number];

const sessionSchema = s.object({
  format: s.literal('patchbench-session'),
  version: s.literal(1),
  modelDir: s.nullable(s.string()),
  pairs: s.array(promptPair),
  settings: s.object({
    prependBos: s.boolean(),
    metric: s.enum(METRIC_NAMES),
    direction: s.enum(DIRECTIONS),
    kinds: s.array(s.enum(KIND_NAMES)),
    method: s.enum(RUN_METHODS),
    verifyK: s.number({ int: true, min: 1 }),
  }),
});
export type Session = Infer<typeof sessionSchema>;

export function sessionToJson(x: Session): string {
  return JSON.stringify(x, null, 2) + '\n';
}

export function sessionFromJson(text: string, name: string): Session {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${name} is not valid JSON (${(e as Error).message})`);
  }
  if ((raw as { version?: unknown })?.version !== undefined && (raw as { version?: unknown }).version !== 1) {
    throw new Error(`${name} was written by a newer Patchbench (version ${(raw as { version: unknown }).version}); this one reads version 1`);
  }
  try {
    return sessionSchema.parse(raw, name);
  } catch (e) {
    throw new Error(`${name} is not a Patchbench session file: ${(e as Error).message}`);
  }
}

export type { PromptPair };
