/**
 * Bad model folders and bad prompts: each gets one PatchbenchError naming the file (or field) and
 * the problem — never a crash or a hang.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
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
    await rejects(edit((c) => (c.activation_function = 'relu')), 'bad-model', /activation_function "relu" is not supported/);
    await rejects(edit((c) => (c.model_type = 'bert')), 'bad-model', /model_type "bert" is not supported \(supported: gpt2, llama, mistral, qwen2, gpt_neox\)/);
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
