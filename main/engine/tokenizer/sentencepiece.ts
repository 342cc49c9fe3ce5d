/**
 * SentencePiece's `tokenizer.model` (a protobuf ModelProto), converted once at load into the
 * equivalent tokenizer.json object, so it runs through the same library as every other form. The
 * model is the one Hugging Face's LlamaConverter makes: a BPE over the pieces whose merges are
 * every split of a piece into two pieces, ranked by the piece's score (SentencePiece's BPE merges
 * the best-scoring pair first), with byte fallback as trained. The text is prepared as SentencePiece
 * prepares it, which neither of HF's Llama forms does exactly: extra spaces removed where the model
 * says so, then one dummy-prefix space in front of the whole text (HF's Prepend normaliser also
 * puts one after each user-defined symbol, and its Metaspace pre-tokenizer none before a text that
 * starts with a space), then spaces written as "▁". Token ids are checked against the SentencePiece
 * library itself on three models trained with different flags (test/tokenizer-sentencepiece.test.ts).
 */
import protobuf from 'protobufjs';
import { badTokenizer } from '../errors.ts';
import type { TokenizerJson } from './files.ts';

/** The fields of sentencepiece_model.proto that the conversion reads, with their proto2 defaults. */
const SCHEMA = `
syntax = "proto2";
message TrainerSpec {
  enum ModelType { UNIGRAM = 1; BPE = 2; WORD = 3; CHAR = 4; }
  optional ModelType model_type = 3 [default = UNIGRAM];
  optional bool treat_whitespace_as_suffix = 24 [default = false];
  optional bool byte_fallback = 35 [default = false];
}
message NormalizerSpec {
  optional string name = 1;
  optional bytes precompiled_charsmap = 2;
  optional bool add_dummy_prefix = 3 [default = true];
  optional bool remove_extra_whitespaces = 4 [default = true];
  optional bool escape_whitespaces = 5 [default = true];
}
message ModelProto {
  message SentencePiece {
    enum Type { NORMAL = 1; UNKNOWN = 2; CONTROL = 3; USER_DEFINED = 4; UNUSED = 5; BYTE = 6; }
    optional string piece = 1;
    optional float score = 2;
    optional Type type = 3 [default = NORMAL];
  }
  repeated SentencePiece pieces = 1;
  optional TrainerSpec trainer_spec = 2;
  optional NormalizerSpec normalizer_spec = 3;
}`;

const ModelProto = protobuf.parse(SCHEMA).root.lookupType('ModelProto');

interface Piece {
  piece: string;
  score: number;
  type: 'NORMAL' | 'UNKNOWN' | 'CONTROL' | 'USER_DEFINED' | 'UNUSED' | 'BYTE';
}

interface Model {
  pieces: Piece[];
  trainerSpec: { modelType: string; treatWhitespaceAsSuffix: boolean; byteFallback: boolean };
  normalizerSpec: { name: string; precompiledCharsmap: Uint8Array; addDummyPrefix: boolean; removeExtraWhitespaces: boolean; escapeWhitespaces: boolean };
}

/** What SentencePiece does to the text before its normaliser's character rules. */
export type TextPreparation = (text: string) => string;

/**
 * remove_extra_whitespaces drops leading and trailing spaces and collapses runs of spaces into one
 * (spaces only: tabs and newlines are kept); add_dummy_prefix puts a space in front of a text that
 * is not empty. Done before the library, which would prefix even a text that became empty.
 */
function preparation(removeExtraWhitespaces: boolean, addDummyPrefix: boolean): TextPreparation | undefined {
  if (!removeExtraWhitespaces && !addDummyPrefix) return undefined;
  return (text) => {
    const t = removeExtraWhitespaces ? text.replace(/^ +| +$/g, '').replace(/ {2,}/g, ' ') : text;
    return addDummyPrefix && t !== '' ? ` ${t}` : t;
  };
}

export function sentencePieceTokenizerJson(path: string, bytes: Uint8Array): { json: TokenizerJson; prepare?: TextPreparation; prefixesText: boolean } {
  let model: Model;
  try {
    model = ModelProto.toObject(ModelProto.decode(bytes), { enums: String, defaults: true, bytes: Array }) as unknown as Model;
  } catch (e) {
    throw badTokenizer(`${path}: not a SentencePiece model (${(e as Error).message})`);
  }
  const { pieces, trainerSpec: trainer, normalizerSpec: normalizer } = model;
  if (pieces.length === 0) throw badTokenizer(`${path}: not a SentencePiece model (it has no pieces)`);
  if (trainer?.modelType !== 'BPE') {
    throw badTokenizer(`${path}: SentencePiece model type ${trainer?.modelType ?? 'missing'} is not supported (supported: BPE, as in Llama 2, TinyLlama and Mistral)`);
  }
  if (trainer.treatWhitespaceAsSuffix) throw badTokenizer(`${path}: treat_whitespace_as_suffix is not supported`);
  if (normalizer && !normalizer.escapeWhitespaces) throw badTokenizer(`${path}: escape_whitespaces false is not supported`);
  if (normalizer && normalizer.precompiledCharsmap.length > 0 && normalizer.name !== 'identity') {
    throw badTokenizer(`${path}: normalization rule ${JSON.stringify(normalizer.name)} is not supported (only "identity", as in Llama 2)`);
  }

  const vocab: Record<string, number> = {};
  pieces.forEach((p, id) => {
    if (Object.hasOwn(vocab, p.piece)) throw badTokenizer(`${path}: piece ${JSON.stringify(p.piece)} appears twice (ids ${vocab[p.piece]} and ${id})`);
    vocab[p.piece] = id;
  });
  const unk = pieces.find((p) => p.type === 'UNKNOWN');
  const addDummyPrefix = normalizer?.addDummyPrefix ?? true;
  const json: TokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    // SentencePiece matches user-defined pieces in the text before anything else; control pieces
    // (<s>, </s>) are never read from text, so they stay plain vocabulary entries.
    added_tokens: pieces
      .map((p, id) => ({ p, id }))
      .filter(({ p }) => p.type === 'USER_DEFINED')
      .map(({ p, id }) => ({ id, content: p.piece, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false })),
    normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(addDummyPrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk?.piece ?? null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: trainer.byteFallback,
      ignore_merges: false,
      vocab,
      merges: mergesFromScores(pieces, vocab),
    },
  };
  const prepare = preparation(normalizer?.removeExtraWhitespaces ?? true, addDummyPrefix);
  return { json, prepare, prefixesText: addDummyPrefix };
}

/**
 * Every split of a mergeable piece into two pieces that are themselves in the vocabulary, best
 * score first; splits of one piece keep the order of their parts' ids (as in HF's
 * SentencePieceExtractor), so ties resolve as there.
 */
function mergesFromScores(pieces: Piece[], vocab: Record<string, number>): [string, string][] {
  const mergeable = (p: Piece) => p.type === 'NORMAL' || p.type === 'USER_DEFINED';
  const ranked: { pair: [string, string]; score: number; left: number; right: number; order: number }[] = [];
  pieces.forEach((p, id) => {
    if (!mergeable(p)) return;
    const chars = Array.from(p.piece);
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join('');
      const right = chars.slice(k).join('');
      const l = vocab[left];
      const r = vocab[right];
      if (l !== undefined && r !== undefined && mergeable(pieces[l]) && mergeable(pieces[r])) {
        ranked.push({ pair: [left, right], score: p.score, left: l, right: r, order: id });
      }
    }
  });
  ranked.sort((a, b) => b.score - a.score || a.order - b.order || a.left - b.left || a.right - b.right);
  return ranked.map((m) => m.pair);
}
