/**
 * Which BOS token goes in front of a prompt. TransformerLens prepends the model's BOS token by
 * default for every family; the token is the tokenizer's `bos_token` where tokenizer_config.json
 * or special_tokens_map.json names one (special_tokens_map.json wins, as when transformers loads
 * both), otherwise config.json's `bos_token_id`. A tokenizer that sets `bos_token` to null (Qwen2)
 * has none whatever config.json says, and so has a model where no file names one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { badTokenizer } from '../errors.ts';
import { jsonProblem } from '../json.ts';
import type { Tokenizer } from '../tokenizer.ts';
import { isPlainObject } from './files.ts';

export interface BosToken {
  id: number;
  /** the token as the vocabulary spells it, e.g. "<s>" */
  token: string;
  /** the file that named it */
  from: 'special_tokens_map.json' | 'tokenizer_config.json' | 'config.json';
}

/** GPT2Config's default, which transformers uses when a GPT-2 config.json has no bos_token_id. */
const GPT2_DEFAULT_BOS = 50256;

/** What one tokenizer file says: a token, "none" (explicit null), or nothing. */
type Said = { token: string } | 'none' | undefined;

function readJsonIfPresent(path: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw badTokenizer(`${path}: cannot be read (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw badTokenizer(`${path}: not valid JSON (${jsonProblem(e)})`);
  }
  if (!isPlainObject(json)) throw badTokenizer(`${path}: not a JSON object`);
  return json;
}

/** `bos_token` as a string or as an AddedToken object {"content": "<s>", …}. */
function bosTokenIn(path: string, json: Record<string, unknown> | undefined): Said {
  if (!json || !Object.hasOwn(json, 'bos_token')) return undefined;
  const v = json.bos_token;
  if (v === null) return 'none';
  if (typeof v === 'string') return { token: v };
  if (isPlainObject(v) && typeof v.content === 'string') return { token: v.content };
  throw badTokenizer(`${path}: "bos_token" must be a string, an object with a string "content", or null; got ${JSON.stringify(v)}`);
}

export function resolveBos(dir: string, tokenizer: Tokenizer): BosToken | null {
  const files = ['special_tokens_map.json', 'tokenizer_config.json'] as const;
  let explicitNone = false;
  for (const file of files) {
    const path = join(dir, file);
    const said = bosTokenIn(path, readJsonIfPresent(path));
    if (said === 'none') explicitNone = true;
    if (said === undefined || said === 'none') continue;
    const id = tokenizer.idOf(said.token);
    if (id === undefined) throw badTokenizer(`${path}: bos_token ${JSON.stringify(said.token)} is not a token of this tokenizer`);
    return { id, token: said.token, from: file };
  }
  if (explicitNone) return null;

  const configPath = join(dir, 'config.json');
  const config = readJsonIfPresent(configPath) ?? {};
  const modelType = config.model_type ?? 'gpt2';
  const id = config.bos_token_id ?? (modelType === 'gpt2' ? GPT2_DEFAULT_BOS : undefined);
  // A default that the vocabulary does not reach (a character-level GPT-2 saved with GPT2Config's
  // defaults) names no token: no BOS, as for a model where nothing names one.
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= tokenizer.vocabSize) {
    if (config.bos_token_id == null || modelType === 'gpt2') return null;
    throw badTokenizer(`${configPath}: bos_token_id ${JSON.stringify(config.bos_token_id)} is not a token id of this tokenizer (0..${tokenizer.vocabSize - 1})`);
  }
  return { id, token: tokenizer.tokenString(id), from: 'config.json' };
}
