/**
 * Writes a trained model as a standard Hugging Face GPT-2 folder: config.json, model.safetensors
 * (Conv1D layout, "transformer."-prefixed names, unembedding tied to wte so no lm_head.weight),
 * the tokenizer in both formats plus tokenizer_config.json / special_tokens_map.json, and
 * generation_config.json. `GPT2LMHeadModel.from_pretrained(dir)` and
 * `AutoTokenizer.from_pretrained(dir)` read it as they read gpt2.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeTokenizerFiles, type TrainedBpe } from '../bpe-train.ts';
import { writeFileAtomic } from '../files.ts';
import { encodeSafetensors } from '../safetensors.ts';
import { GPT2_EOS } from '../tokenizer.ts';
import { paramView, type ArchConfig, type ParamLayout } from './params.ts';

/** config.json for `cfg`, in the field order and with the defaults of Hugging Face's GPT2Config. */
export function hfConfig(cfg: ArchConfig, endOfText: number): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    attn_pdrop: 0.0,
    bos_token_id: endOfText,
    embd_pdrop: 0.0,
    eos_token_id: endOfText,
    initializer_range: 0.02,
    layer_norm_epsilon: cfg.eps,
    n_ctx: cfg.nCtx,
    n_embd: cfg.dModel,
    n_head: cfg.nHeads,
    n_inner: cfg.dMlp === 4 * cfg.dModel ? null : cfg.dMlp,
    n_layer: cfg.nLayers,
    n_positions: cfg.nCtx,
    reorder_and_upcast_attn: false,
    resid_pdrop: 0.0,
    scale_attn_by_inverse_layer_idx: false,
    scale_attn_weights: true,
    summary_activation: null,
    summary_first_dropout: 0.0,
    summary_proj_to_labels: true,
    summary_type: 'cls_index',
    summary_use_proj: true,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: cfg.vocabSize,
  };
}

export function safetensorsBytes(layout: ParamLayout, flat: Float32Array, metadata: Record<string, string> = {}): Buffer {
  const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const s of layout.specs) tensors[s.name] = { data: paramView(flat, s), shape: s.shape };
  return encodeSafetensors(tensors, { format: 'pt', ...metadata });
}

const json = (x: unknown) => JSON.stringify(x, null, 2) + '\n';

/** Writes the whole model folder (everything but MODEL_CARD.md). */
export function writeModelFolder(
  dir: string,
  cfg: ArchConfig,
  layout: ParamLayout,
  flat: Float32Array,
  bpe: TrainedBpe,
  metadata: Record<string, string> = {},
): void {
  mkdirSync(dir, { recursive: true });
  const eot = bpe.vocab[GPT2_EOS];
  if (eot === undefined) throw new Error('trained vocab has no <|endoftext|>');
  writeTokenizerFiles(dir, bpe);
  writeFileAtomic(join(dir, 'config.json'), json(hfConfig(cfg, eot)));
  writeFileAtomic(join(dir, 'generation_config.json'), json({ bos_token_id: eot, eos_token_id: eot }));
  writeFileAtomic(
    join(dir, 'tokenizer_config.json'),
    json({
      add_bos_token: false,
      add_prefix_space: false,
      bos_token: GPT2_EOS,
      clean_up_tokenization_spaces: false,
      eos_token: GPT2_EOS,
      model_max_length: cfg.nCtx,
      tokenizer_class: 'GPT2Tokenizer',
      unk_token: GPT2_EOS,
    }),
  );
  writeFileAtomic(join(dir, 'special_tokens_map.json'), json({ bos_token: GPT2_EOS, eos_token: GPT2_EOS, unk_token: GPT2_EOS }));
  writeFileAtomic(join(dir, 'model.safetensors'), safetensorsBytes(layout, flat, metadata));
}
