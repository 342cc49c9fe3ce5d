/**
 * Bad model folders and bad prompts: each gets one PatchbenchError naming the file (or field) and
 * the problem — never a crash or a hang.
 */
import assert from 'node:assert/strict';
import { closeSync, cpSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../main/engine/config.ts';
import { PatchbenchError } from '../../main/engine/errors.ts';
import { HookedModel } from '../../main/engine/model.ts';
import { encodeSafetensors, openSafetensors } from '../../main/engine/safetensors.ts';
import { writeFixture } from '../fixtures/generate.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-bad-'));
let good: string;
let n = 0;
before(() => {
  good = writeFixture(join(tmp, 'good'), { layers: 1, heads: 2, dModel: 8, seed: 1 });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the good model folder, changed by `edit`. */
function broken(edit: (dir: string) => void): string {
  const dir = join(tmp, `bad-${n++}`);
  cpSync(good, dir, { recursive: true });
  edit(dir);
  return dir;
}

async function rejects(dir: string, code: string, ...patterns: RegExp[]) {
  await assert.rejects(HookedModel.load(dir), (e: unknown) => {
    assert.ok(e instanceof PatchbenchError, `expected a PatchbenchError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

/** Rewrites model.safetensors' header with `mutate`, keeping the data bytes. */
function editHeader(dir: string, mutate: (h: Record<string, any>) => void, dataEdit?: (d: Buffer) => Buffer) {
  const path = join(dir, 'model.safetensors');
  const buf = readFileSync(path);
  const len = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + len).toString());
  mutate(header);
  const json = Buffer.from(JSON.stringify(header));
  const l = Buffer.alloc(8);
  l.writeBigUInt64LE(BigInt(json.length));
  let data: Buffer = buf.subarray(8 + len);
  if (dataEdit) data = dataEdit(data);
  writeFileSync(path, Buffer.concat([l, json, data]));
}

describe('safetensors', () => {
  test('header length past the end of the file', async () => {
    const dir = broken((d) => {
      const b = Buffer.alloc(16);
      b.writeBigUInt64LE(1000000n);
      writeFileSync(join(d, 'model.safetensors'), b);
    });
    await rejects(dir, 'bad-model', /model\.safetensors/, /header length 1000000 runs past the end/);
  });
  test('file too short', async () => {
    await rejects(broken((d) => writeFileSync(join(d, 'model.safetensors'), Buffer.alloc(3))), 'bad-model', /too short/);
  });
  test('header not JSON', async () => {
    const dir = broken((d) => {
      const b = Buffer.alloc(12);
      b.writeBigUInt64LE(4n);
      b.write('{{{{', 8);
      writeFileSync(join(d, 'model.safetensors'), b);
    });
    await rejects(dir, 'bad-model', /not valid JSON/);
  });
  test('truncated data (offsets out of range)', async () => {
    const dir = broken((d) => {
      const p = join(d, 'model.safetensors');
      const b = readFileSync(p);
      writeFileSync(p, b.subarray(0, b.length - 100));
    });
    await rejects(dir, 'bad-model', /run past the end of the data/, /truncated/);
  });
  test('overlapping tensors', async () => {
    const dir = broken((d) =>
      editHeader(d, (h) => {
        const names = Object.keys(h).filter((k) => k !== '__metadata__' && h[k].shape.length === 1 && h[k].shape[0] === 8);
        const [a, b] = names;
        h[b].data_offsets = [...h[a].data_offsets];
      }),
    );
    await rejects(dir, 'bad-model', /overlap/);
  });
  test('unknown dtype', async () => {
    const dir = broken((d) => editHeader(d, (h) => (h['transformer.ln_f.bias'].dtype = 'Q4')));
    await rejects(dir, 'bad-model', /transformer\.ln_f\.bias/, /unsupported dtype "Q4"/);
  });
  test('shape and byte size disagree', async () => {
    const dir = broken((d) => editHeader(d, (h) => (h['transformer.ln_f.bias'].shape = [9])));
    await rejects(dir, 'bad-model', /transformer\.ln_f\.bias/, /needs 36 bytes but data_offsets span 32/);
  });
  test('tensor shape inconsistent with config.json', async () => {
    const dir = broken((d) => {
      const p = join(d, 'config.json');
      writeFileSync(p, JSON.stringify({ ...JSON.parse(readFileSync(p, 'utf8')), n_inner: 16 }));
    });
    await rejects(dir, 'bad-model', /mlp\.c_fc\.weight/, /config\.json implies \[8,16\]/);
  });
  test('a tensor missing from the checkpoint', async () => {
    const dir = broken((d) => editHeader(d, (h) => delete h['transformer.h.0.ln_2.weight']));
    await rejects(dir, 'bad-model', /no tensor "h\.0\.ln_2\.weight"/);
  });
  test('F16 and BF16 upcast exactly', () => {
    const path = join(tmp, 'half.safetensors');
    const values = Float32Array.from([0, 1, -2, 0.5, 65504, -0.000061035156, 3.140625]);
    writeFileSync(path, encodeSafetensors({ h: { data: values, shape: [7], dtype: 'F16' } }));
    const f = openSafetensors(path);
    assert.deepEqual(Array.from(f.read('h')), Array.from(values));
    f.close();
    // BF16 is the top 16 bits of a float32: 1.5 = 0x3fc0, −3 = 0xc040
    const header = Buffer.from(JSON.stringify({ b: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(path, Buffer.concat([len, header, Buffer.from([0xc0, 0x3f, 0x40, 0xc0])]));
    const g = openSafetensors(path);
    assert.deepEqual(Array.from(g.read('b')), [1.5, -3]);
    g.close();
  });
});

describe('model folder', () => {
  test('missing folder', async () => rejects(join(tmp, 'nope'), 'bad-model', /model folder not found/));
  test('missing config.json', async () => rejects(broken((d) => unlinkSync(join(d, 'config.json'))), 'bad-model', /config\.json: missing/));
  test('config.json not JSON', async () => rejects(broken((d) => writeFileSync(join(d, 'config.json'), '{"n_layer": ')), 'bad-model', /config\.json: not valid JSON/));
  test('config field missing or wrong', async () => {
    const edit = (f: (c: any) => void) =>
      broken((d) => {
        const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
        f(c);
        writeFileSync(join(d, 'config.json'), JSON.stringify(c));
      });
    await rejects(edit((c) => delete c.n_embd), 'bad-model', /field "n_embd" must be a positive integer/);
    await rejects(edit((c) => (c.n_head = 3)), 'bad-model', /n_embd 8 is not divisible by n_head 3/);
    await rejects(edit((c) => (c.activation_function = 'mish')), 'bad-model', /activation_function "mish" is not supported \(supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu, relu, silu, swish\)/);
    await rejects(edit((c) => (c.scale_attn_weights = 'yes')), 'bad-model', /field "scale_attn_weights" must be true or false, got "yes"/);
    await rejects(edit((c) => (c.add_cross_attention = true)), 'bad-model', /add_cross_attention is true: cross-attention layers need an encoder/);
    await rejects(edit((c) => (c.tie_word_embeddings = false)), 'bad-model', /tie_word_embeddings to false, but the checkpoint has no lm_head\.weight/);
    await rejects(edit((c) => (c.model_type = 'bert')), 'bad-model', /model_type "bert" is not supported \(supported: gpt2, llama, mistral, qwen2, gpt_neox\)/);
  });
  test('attention switches and activation names are read as transformers reads them', () => {
    const base = { n_layer: 3, n_head: 2, n_embd: 8, vocab_size: 10, n_positions: 8, bos_token_id: 9 };
    assert.deepEqual(parseConfig(base).attnScale, [0.5, 0.5, 0.5]); // 1/√d_head, d_head 4
    assert.deepEqual(parseConfig({ ...base, scale_attn_by_inverse_layer_idx: true }).attnScale, [0.5, 0.25, 0.5 / 3]);
    assert.deepEqual(parseConfig({ ...base, scale_attn_weights: false }).attnScale, [1, 1, 1]);
    assert.deepEqual(parseConfig({ ...base, reorder_and_upcast_attn: true }).attnScale, [0.5, 0.5, 0.5]);
    assert.equal(parseConfig(base).activation, 'gelu_new');
    assert.equal(parseConfig({ ...base, activation_function: 'swish' }).activation, 'swish');
  });
  test('no tokenizer files', async () => {
    const dir = broken((d) => ['vocab.json', 'merges.txt', 'tokenizer.json'].forEach((f) => unlinkSync(join(d, f))));
    await rejects(dir, 'bad-tokenizer', /tokenizer/);
  });
  test('only pytorch_model.bin: says how to convert', async () => {
    const dir = broken((d) => {
      unlinkSync(join(d, 'model.safetensors'));
      writeFileSync(join(d, 'pytorch_model.bin'), 'x');
    });
    await rejects(dir, 'bad-model', /pytorch_model\.bin/, /save_pretrained\(DIR, safe_serialization=True\)/);
  });
  test('no weights at all', async () => rejects(broken((d) => unlinkSync(join(d, 'model.safetensors'))), 'bad-model', /no model\.safetensors/));
});

/** Adds tensors to model.safetensors (their bytes appended to the data). */
function addTensors(dir: string, tensors: Record<string, number[]>) {
  editHeader(
    dir,
    (h) => {
      let end = Math.max(...Object.entries(h).filter(([k]) => k !== '__metadata__').map(([, v]: [string, any]) => v.data_offsets[1]));
      for (const [name, values] of Object.entries(tensors)) {
        h[name] = { dtype: 'F32', shape: [values.length], data_offsets: [end, end + 4 * values.length] };
        end += 4 * values.length;
      }
    },
    (d) => Buffer.concat([d, ...Object.values(tensors).map((v) => Buffer.from(Float32Array.from(v).buffer))]),
  );
}

/** Writes `value` as one float32 into tensor `name` of model.safetensors, at element `at`. */
function poke(dir: string, name: string, at: number, value: number) {
  const f = openSafetensors(join(dir, 'model.safetensors'));
  const begin = f.entries.get(name)!.begin;
  f.close();
  const fd = openSync(join(dir, 'model.safetensors'), 'r+');
  writeSync(fd, Buffer.from(Float32Array.of(value).buffer), 0, 4, begin + 4 * at);
  closeSync(fd);
}

describe('loader checks: weights and config.json must agree exactly', () => {
  test('a NaN or infinite weight is refused, naming the tensor', async () => {
    await rejects(broken((d) => poke(d, 'transformer.h.0.mlp.c_fc.weight', 5, NaN)), 'bad-model', /tensor "transformer\.h\.0\.mlp\.c_fc\.weight" holds NaN at flat index 5/);
    await rejects(broken((d) => poke(d, 'transformer.wte.weight', 0, -Infinity)), 'bad-model', /tensor "transformer\.wte\.weight" holds -Infinity at flat index 0/);
  });
  test('n_layer smaller than the checkpoint: the unused layer is an error', async () => {
    const two = writeFixture(join(tmp, 'two-layers'), { layers: 2, heads: 2, dModel: 8, seed: 2 });
    const p = join(two, 'config.json');
    writeFileSync(p, JSON.stringify({ ...JSON.parse(readFileSync(p, 'utf8')), n_layer: 1 }));
    await rejects(two, 'bad-model', /tensor "transformer\.h\.1\.\S+" \(and 11 more\) is not used by a GPT-2 model of n_layer 1, n_head 2, n_embd 8/, /config\.json and the checkpoint disagree/);
  });
  test('vocab_size and n_embd must match the tensors', async () => {
    const edit = (f: (c: any) => void) =>
      broken((d) => {
        const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
        f(c);
        writeFileSync(join(d, 'config.json'), JSON.stringify(c));
      });
    await rejects(edit((c) => (c.vocab_size += 1)), 'bad-model', /wte\.weight" has shape \[\d+,8\] but config\.json implies/);
    await rejects(edit((c) => (c.n_embd = 16)), 'bad-model', /has shape .* but config\.json implies/);
  });
  test('a tensor left unused is an error; the buffers transformers ignores are not', async () => {
    await rejects(broken((d) => addTensors(d, { 'transformer.h.0.attn.rogue': [1, 2] })), 'bad-model', /tensor "transformer\.h\.0\.attn\.rogue" is not used/, /attn\.bias, attn\.masked_bias/);
    const dir = broken((d) => addTensors(d, { 'transformer.h.0.attn.bias': [1], 'transformer.h.0.attn.masked_bias': [-1e4], 'h.0.attention.bias': [1], 'rotary_emb.inv_freq': [1] }));
    const m = await HookedModel.load(dir);
    m.dispose();
  });
  test('a safetensors header of 100 MB or more is refused before it is read', async () => {
    const dir = broken((d) => {
      const p = join(d, 'model.safetensors');
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(150_000_000n);
      writeFileSync(p, b);
      truncateSync(p, 160_000_000); // sparse: no disk used
    });
    await rejects(dir, 'bad-model', /header length 150000000 is 100 MB or more/);
  });
  test('a folder named model.safetensors or config.json is not a file', async () => {
    await rejects(broken((d) => (unlinkSync(join(d, 'model.safetensors')), mkdirSync(join(d, 'model.safetensors')))), 'bad-model', /model\.safetensors: is a folder, not a safetensors file/);
    await rejects(broken((d) => (unlinkSync(join(d, 'config.json')), mkdirSync(join(d, 'config.json')))), 'bad-model', /config\.json: is a folder, not a file/);
  });
  test("errors never echo another file's contents", async () => {
    const secret = join(tmp, 'passwd');
    writeFileSync(secret, 'root:x:0:0:root:/root:/bin/bash\n');
    for (const name of ['config.json', 'tokenizer.json']) {
      const dir = broken((d) => (unlinkSync(join(d, name)), symlinkSync(secret, join(d, name))));
      await assert.rejects(HookedModel.load(dir), (e: Error) => {
        assert.match(e.message, new RegExp(`${name.replace('.', '\\.')}: not valid JSON \\(a syntax error`));
        assert.doesNotMatch(e.message, /root/);
        return true;
      });
    }
  });
});

describe('prompts', () => {
  test('empty and over-long prompts', async () => {
    const m = await HookedModel.load(good);
    try {
      assert.throws(() => m.encodePrompt(''), /prompt is empty/);
      assert.throws(() => m.encodePrompt('x'.repeat(64)), /prompt is 65 tokens, longer than the model's context of 64/);
      assert.equal(m.encodePrompt('x'.repeat(63)).length, 64);
      assert.deepEqual(m.encodePrompt('ab', false), m.tokenizer.encode('ab'));
      assert.equal(m.encodePrompt('ab')[0], m.bos!.id);
    } finally {
      m.dispose();
    }
  });
});
