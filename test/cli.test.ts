/**
 * The command line, run as a user runs it: output formats, exit codes, and one-line errors for bad
 * input (never a stack trace).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { writeFixture } from './fixtures/generate.ts';
import { assertClose, FIXTURES, readJson, ROOT, runCli, TINY } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const cli = (...args: string[]) => runCli(args, { PATCHBENCH_HOME: join(tmp, 'home'), HF_HOME: join(tmp, 'hf') });

function assertCleanError(r: ReturnType<typeof cli>, pattern: RegExp, maxLines = 4) {
  assert.notEqual(r.code, 0);
  assert.match(r.err, /^patchbench: /);
  assert.match(r.err, pattern);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  assert.ok(r.err.trim().split('\n').length <= maxLines, r.err);
}

describe('patchbench', () => {
  test('info --json', () => {
    const r = cli('info', '--model', TINY, '--json');
    assert.equal(r.code, 0, r.err);
    const info = JSON.parse(r.out);
    assert.equal(info.nLayers, 2);
    assert.equal(info.nHeads, 4);
    assert.equal(info.dModel, 64);
    assert.equal(info.paramCount, 3324736);
    assert.deepEqual(info.dtypes, ['F32']);
    assert.match(info.backend, /^wasm( \+ native AVX2 matmul)?$/);
    assert.deepEqual(info.bos, { id: 50256, token: '<|endoftext|>', from: 'config.json' });
    const text = cli('info', '--model', TINY).out;
    assert.match(text, /^BOS token +"<\|endoftext\|>" \(id 50256, from config\.json\); put in front of prompts unless --no-bos$/m);
  });

  test('predict --json prints exactly one JSON object with tokens and top-K by logit', () => {
    const expected = readJson(`${TINY}/expected/ioi-denoising.expected.json`);
    const spec = readJson(`${TINY}/expected/ioi-denoising.spec.json`);
    const r = cli('predict', '--model', TINY, '--prompt', spec.pairs[0].clean, '--top', '5', '--json');
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 1);
    const p = JSON.parse(lines[0]);
    assert.deepEqual(Object.keys(p), ['tokens', 'top']);
    assert.deepEqual(p.tokens, expected.tokens.clean[0]);
    assert.deepEqual(p.top.map((t: any) => t.id), expected.clean_top5[0]);
    for (const t of p.top) assert.deepEqual(Object.keys(t), ['id', 'token', 'logit', 'prob']);
    for (let i = 1; i < p.top.length; i++) assert.ok(p.top[i - 1].logit >= p.top[i].logit);
    assertClose(p.top.map((t: any) => t.logit), p.top.map((t: any) => expected.clean_last_logits_first16[0][t.id] ?? t.logit), 2e-3, 'logits');
    const noBos = JSON.parse(cli('predict', '--model', TINY, '--prompt', spec.pairs[0].clean, '--no-bos', '--json').out);
    assert.deepEqual(noBos.tokens, expected.tokens.clean[0].slice(1));
  });

  test('patch writes the fixtures schema and a CSV, matching the reference', () => {
    const out = join(tmp, 'out.json');
    const csv = join(tmp, 'out.csv');
    const r = cli('patch', '--model', TINY, '--pairs', `${TINY}/expected/ioi.pairs.jsonl`, '--kinds', 'head_z,resid_pre', '--method', 'both', '--verify-top', '3', '--out', out, '--csv', csv);
    assert.equal(r.code, 0, r.err);
    const got = JSON.parse(readFileSync(out, 'utf8'));
    const expected = readJson(`${TINY}/expected/ioi-denoising.expected.json`);
    assert.equal(got.direction, 'denoising');
    assert.ok(Math.abs(got.metric.clean_logit_diff - expected.metric.clean_logit_diff) < 1e-4);
    assert.deepEqual(got.tokens.clean, expected.tokens.clean);
    for (const kind of ['head_z', 'resid_pre']) {
      assert.deepEqual(got.kinds[kind].map((r: any) => r.index), expected.kinds[kind].map((r: any) => r.index));
      assertClose(got.kinds[kind].map((r: any) => r.attribution), expected.kinds[kind].map((r: any) => r.attribution), 1e-3, kind);
      assertClose(got.kinds[kind].map((r: any) => r.activation), expected.kinds[kind].map((r: any) => r.activation), 1e-3, kind);
      assert.equal(typeof got.summary[kind].pearson, 'number');
      assert.equal(got.summary[kind].verification.k, 3);
    }
    const rows = readFileSync(csv, 'utf8').trim().split('\n');
    assert.equal(rows[0], 'label,kind,layer,head,pos,token,neuron,attribution,score_atp,activation,error');
    assert.equal(rows.length, 1 + 8 + 2 * 15);
    assert.ok(rows.some((l) => l.startsWith('L1H3,head_z,1,3,')));
  });

  test('with no options, patch shows a real result on the bundled demo model', () => {
    const r = cli('patch', '--kinds', 'head_z', '--method', 'both');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /using 16 IOI pairs/);
    const rows = r.out.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    assert.equal(rows.length, 5);
    // ranked by the exact effect; the demo model's top IOI head restores well over 30 %
    assert.ok(Number(rows[0][2]) >= 0.3, r.out);
  });

  test('attribution only leaves activation out of the rows', () => {
    const out = join(tmp, 'attr.json');
    const r = cli('patch', '--model', TINY, '--pairs', `${TINY}/expected/ioi.pairs.jsonl`, '--kinds', 'neuron', '--out', out);
    assert.equal(r.code, 0, r.err);
    const row = JSON.parse(readFileSync(out, 'utf8')).kinds.neuron[0];
    assert.deepEqual(Object.keys(row), ['index', 'attribution', 'score_atp']);
  });

  test('--atp-star adds attribution_qk, the scores and the recall curves to the JSON and the CSV', () => {
    const out = join(tmp, 'star.json');
    const csv = join(tmp, 'star.csv');
    const r = cli('patch', '--model', TINY, '--pairs', `${TINY}/expected/ioi.pairs.jsonl`, '--kinds', 'head_k,mlp_out', '--method', 'both', '--atp-star', '--recall-k', '3', '--verify-top', '2', '--out', out, '--csv', csv);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    assert.deepEqual(Object.keys(j.kinds.head_k[0]), ['index', 'attribution', 'attribution_qk', 'score_atp', 'score_atp_qk', 'score_graddrop', 'score_atp_star', 'activation']);
    assert.deepEqual(Object.keys(j.kinds.mlp_out[0]), ['index', 'attribution', 'score_atp', 'score_atp_qk', 'score_graddrop', 'score_atp_star', 'activation']);
    for (const kind of ['head_k', 'mlp_out']) {
      const n = j.kinds[kind].length;
      assert.deepEqual(Object.keys(j.recall[kind]).sort(), ['atp', 'atp_qk', 'atp_star', 'graddrop']);
      const c = j.recall[kind].atp_star;
      assert.equal(c.k, 3);
      assert.equal(c.curve.length, n);
      assert.equal(c.curve.at(-1), 1);
      assert.equal(c.curve[c.verifications_to_all - 1], 1);
      assert.ok(c.verifications_to_all === 1 || c.curve[c.verifications_to_all - 2] < 1);
      assert.ok(Math.abs(c.auc - c.curve.reduce((a: number, b: number) => a + b, 0) / n) < 1e-12);
      assert.equal(j.summary[kind].verification.ranking, 'atp_star');
    }
    assert.ok(j.summary.head_k.qk_fix.pearson > j.summary.head_k.pearson - 1, 'head_k has an agreement summary of the fixed estimate');
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    assert.equal(lines[0], 'label,kind,layer,head,pos,token,neuron,attribution,attribution_qk,score_atp,score_atp_qk,score_graddrop,score_atp_star,activation,error');
    const first = lines[1].split(',');
    assert.equal(first.length, 15);
    assert.equal(Number(first[8]), j.kinds.head_k[0].attribution_qk);
    assert.match(r.err, /head_k +verifications to find the true top 3: atp \d+/);
  });

  test('models lists added folders and the Hugging Face cache', () => {
    const snap = join(tmp, 'hf', 'hub', 'models--openai-community--gpt2', 'snapshots', 'abc123');
    spawnSync('mkdir', ['-p', snap]);
    writeFileSync(join(snap, 'config.json'), JSON.stringify({ model_type: 'gpt2' }));
    writeFileSync(join(snap, 'model.safetensors'), '');
    const r = cli('models', '--json');
    assert.equal(r.code, 0, r.err);
    const list = JSON.parse(r.out);
    assert.ok(list.some((e: any) => e.source === 'hf-cache' && e.name === 'openai-community/gpt2' && e.dir === snap));
  });

  test('info and predict on a checkpoint the test writes (F16, sharded, untied unembedding)', () => {
    const dir = writeFixture(join(tmp, 'gen'), { layers: 2, heads: 2, dModel: 16, seed: 4, f16: true, shards: 2, lmHead: true });
    const info = JSON.parse(cli('info', '--model', dir, '--json').out);
    assert.deepEqual([info.nLayers, info.nHeads, info.dModel, info.dMlp, info.dVocab], [2, 2, 16, 64, 257]);
    assert.deepEqual(info.dtypes, ['F16']);
    const p = JSON.parse(cli('predict', '--model', dir, '--prompt', 'hi there', '--top', '3', '--json').out);
    assert.deepEqual(p.tokens, [256, ...Buffer.from('hi there')].map((b, i) => (i === 0 ? b : p.tokens[i])));
    assert.equal(p.tokens.length, 1 + 'hi there'.length);
    assert.equal(p.top.length, 3);
    const total = p.top.reduce((s: number, t: any) => s + t.prob, 0);
    assert.ok(total > 0 && total <= 1);
  });

  test('pairs writes exactly n reproducible pairs that patch accepts', () => {
    const out = join(tmp, 'ioi.jsonl');
    const r = cli('pairs', '--model', TINY, '--task', 'ioi', '--n', '6', '--seed', '3', '--out', out);
    assert.equal(r.code, 0, r.err);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines.length, 6);
    for (const l of lines) assert.deepEqual(Object.keys(JSON.parse(l)).sort(), ['answer', 'clean', 'corrupted', 'wrong']);
    const again = join(tmp, 'ioi2.jsonl');
    cli('pairs', '--model', TINY, '--task', 'ioi', '--n', '6', '--seed', '3', '--out', again);
    assert.equal(readFileSync(again, 'utf8'), readFileSync(out, 'utf8'));
    const p = cli('patch', '--model', TINY, '--pairs', out, '--kinds', 'head_z', '--out', join(tmp, 'ioi.json'));
    assert.equal(p.code, 0, p.err);
  });

  describe('bad input: one clear line, non-zero exit', () => {
    test('bad pairs requests', () => {
      const out = join(tmp, 'never.jsonl');
      assertCleanError(cli('pairs', '--model', TINY, '--task', 'sudoku', '--out', out), /unknown task "sudoku"; known tasks: ioi, induction, pronoun/);
      assertCleanError(cli('pairs', '--model', TINY, '--task', 'ioi', '--n', '0', '--out', out), /must be a positive integer/);
      // a byte-level vocabulary has no multi-letter names as single tokens
      const bytes = writeFixture(join(tmp, 'bytes'), { layers: 1, heads: 1, dModel: 8, seed: 5 });
      assertCleanError(cli('pairs', '--model', bytes, '--task', 'ioi', '--out', out), /single token/);
      // only the tokenizer is read: a SentencePiece folder, whose 512 pieces hold none of the names
      assertCleanError(cli('pairs', '--model', join(FIXTURES, 'stories260K'), '--task', 'ioi', '--out', out), /only 0 of the 40 names are single tokens/);
    });

    const pairsFile = (name: string, text: string) => {
      const p = join(tmp, name);
      writeFileSync(p, text);
      return p;
    };
    const patch = (pairs: string, ...more: string[]) => cli('patch', '--model', TINY, '--pairs', pairs, '--out', join(tmp, 'x.json'), ...more);
    const ok = { clean: 'When John and Mary went to the store, John gave a drink to', corrupted: 'When John and Mary went to the store, Mary gave a drink to', answer: ' Mary', wrong: ' John' };

    test('missing model folder', () => assertCleanError(cli('info', '--model', join(tmp, 'nope')), /model folder not found/));
    test('unknown command and option', () => {
      assertCleanError(cli('frobnicate'), /unknown command "frobnicate"/, 20); // followed by the usage
      assert.equal(cli('frobnicate').code, 2);
      assertCleanError(cli('info', '--modle', TINY), /Unknown option '--modle'/, 20);
    });
    test('empty prompt and over-long prompt', () => {
      assertCleanError(cli('predict', '--model', TINY, '--prompt', ''), /prompt is empty/);
      assertCleanError(cli('predict', '--model', TINY, '--prompt', 'a '.repeat(200)), /longer than the model's context of 128/);
    });
    test('pairs of different token lengths: names the line and shows the tokens', () => {
      const r = patch(pairsFile('len.jsonl', JSON.stringify(ok) + '\n' + JSON.stringify({ ...ok, corrupted: 'When John and Mary went to the shop, Mary gave a drink to him' }) + '\n'));
      assertCleanError(r, /len\.jsonl line 2: clean and corrupted prompts have different token lengths \(15 vs 16\)/);
      assert.match(r.err, /corrupted: .*" him"/);
    });
    test('pairs of different lengths from each other', () => {
      const r = patch(pairsFile('mixed.jsonl', JSON.stringify(ok) + '\n' + JSON.stringify({ ...ok, clean: 'Then John gave a drink to', corrupted: 'Then Mary gave a drink to' }) + '\n'));
      assertCleanError(r, /mixed\.jsonl line 2: prompts are 7 tokens but .*line 1 has 15/);
    });
    test('answer that is not a single token', () => {
      assertCleanError(patch(pairsFile('ans.jsonl', JSON.stringify({ ...ok, answer: ' Maryanne-Louise' }))), /ans\.jsonl line 1: answer " Maryanne-Louise" is \d+ tokens/);
    });
    test('malformed line, missing field, empty file', () => {
      assertCleanError(patch(pairsFile('bad.jsonl', JSON.stringify(ok) + '\n{"clean": oops}\n')), /bad\.jsonl line 2: not valid JSON/);
      assertCleanError(patch(pairsFile('field.jsonl', JSON.stringify({ ...ok, wrong: undefined }))), /field\.jsonl line 1: field "wrong" must be a string/);
      assertCleanError(patch(pairsFile('empty.jsonl', '\n')), /empty\.jsonl: no pairs/);
      assertCleanError(patch(join(tmp, 'missing.jsonl')), /missing\.jsonl: cannot read the pairs file \(ENOENT\)/);
    });
    test('unknown kind, metric, direction', () => {
      const f = pairsFile('ok.jsonl', JSON.stringify(ok));
      assertCleanError(patch(f, '--kinds', 'head_z,heads'), /unknown kind "heads"/);
      assertCleanError(patch(f, '--metric', 'accuracy'), /unknown metric "accuracy"/);
      assertCleanError(patch(f, '--direction', 'sideways'), /--direction must be denoising or noising/);
      assertCleanError(patch(f, '--rank-by', 'magic'), /--rank-by must be one of attribution, atp, atp_qk, graddrop, atp_star, got "magic"/);
      assertCleanError(patch(f, '--rank-by', 'atp_star', '--qk-fix', '--verify-top', '2'), /ranking "atp_star" needs the QK fix and GradDrop/);
      assertCleanError(patch(f, '--recall-k', '0'), /--recall-k must be a positive integer/);
    });
  });
});
