/** `patchbench circuit` as a user runs it: the JSON's exact keys and names, the CSV, and one-line errors. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DECODER_FIXTURES, writeDecoderFixture } from './fixtures/generate-decoder.ts';
import { readJson, runCli, TINY } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-circuit-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (...args: string[]) => runCli(args, { PATCHBENCH_HOME: join(tmp, 'home') });
const pairs = `${TINY}/expected/ioi.pairs.jsonl`;

describe('patchbench circuit', () => {
  test('--method eap-ig --curve: edges, circuit and the curve under the issue\'s names', () => {
    const out = join(tmp, 'c.json');
    const csv = join(tmp, 'c.csv');
    const r = cli('circuit', '--model', TINY, '--pairs', pairs, '--method', 'eap-ig', '--steps', '2', '--top-n', '30', '--curve', '--out', out, '--csv', csv);
    assert.equal(r.code, 0, r.err);
    const j = readJson(out);
    assert.deepEqual(Object.keys(j), ['edges', 'circuit', 'faithfulness']);
    assert.deepEqual(Object.keys(j.circuit), ['nodes', 'edges']);
    // 2 layers × 4 heads: layer 0's 12 q/k/v inputs read the input, m0 reads 5 sources; layer 1's read 6, m1 10; the logits 11.
    assert.equal(j.edges.length, 12 + 5 + 12 * 6 + 10 + 11);
    assert.deepEqual(Object.keys(j.edges[0]), ['src', 'dst', 'eap', 'eap_ig']);
    assert.deepEqual([j.edges[0].src, j.edges[0].dst], ['input', 'a0.h0q']);
    for (const e of j.edges) {
      assert.match(e.src, /^(input|a\d+\.h\d+|m\d+)$/);
      assert.match(e.dst, /^(a\d+\.h\d+[qkv]|m\d+|logits)$/);
    }
    assert.ok(j.circuit.edges.length > 0 && j.circuit.edges.length <= 30);
    assert.ok(j.circuit.nodes.includes('logits'));
    assert.deepEqual([...new Set(j.faithfulness.map((p: { ranking: string }) => p.ranking))], ['eap', 'eap_ig', 'random']);
    const all = j.faithfulness.filter((p: { n: number }) => p.n === j.edges.length);
    assert.equal(all.length, 3);
    for (const p of all) assert.ok(Math.abs(p.faithfulness - 1) < 1e-3, JSON.stringify(p));
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    assert.equal(lines[0], 'src,dst,eap,eap_ig,in_circuit');
    assert.equal(lines.length, j.edges.length + 1);
    assert.match(r.err, /faithfulness \d\.\d{4}/);
  });

  test('greedy, eap: one faithfulness point for the circuit', () => {
    const out = join(tmp, 'g.json');
    const r = cli('circuit', '--model', TINY, '--pairs', pairs, '--greedy', '8', '--out', out);
    assert.equal(r.code, 0, r.err);
    const j = readJson(out);
    assert.equal(j.faithfulness.length, 1);
    assert.deepEqual(Object.keys(j.faithfulness[0]), ['n', 'ranking', 'faithfulness']);
    assert.equal(j.faithfulness[0].ranking, 'eap');
    assert.ok(!('eap_ig' in j.edges[0]));
  });

  test('bad options: one line each', () => {
    const bad = (re: RegExp, ...args: string[]) => {
      const r = cli('circuit', '--model', TINY, '--pairs', pairs, ...args);
      assert.notEqual(r.code, 0);
      assert.match(r.err, re);
      assert.doesNotMatch(r.err, /\n\s+at /);
    };
    bad(/circuit needs --out/);
    bad(/--method must be eap or eap-ig/, '--method', 'acdc', '--out', join(tmp, 'x.json'));
    bad(/give --top-n N or --greedy N, not both/, '--top-n', '5', '--greedy', '5', '--out', join(tmp, 'x.json'));
    bad(/--steps must be an integer from 1 to 100/, '--method', 'eap-ig', '--steps', '0', '--out', join(tmp, 'x.json'));
  });

  // The rotary families: Llama with grouped-query attention (k/v inputs per KV head), Pythia with
  // parallel attention and MLP (no head feeds its own layer's MLP).
  for (const [name, edges] of [['llama-gqa-bf16', 190], ['neox-parallel', 250]] as const) {
    test(`${name}: the graph of its family, and the full graph is faithful 1`, () => {
      const model = writeDecoderFixture(join(tmp, name), DECODER_FIXTURES[name]);
      const jsonl = join(tmp, `${name}.jsonl`);
      const pair = (a: string, b: string) => JSON.stringify({ clean: `When ${a} and ${b} met, ${b} gave it to `, corrupted: `When ${a} and ${b} met, ${a} gave it to `, answer: a, wrong: b });
      writeFileSync(jsonl, [pair('M', 'J'), pair('K', 'T'), pair('A', 'S')].join('\n') + '\n');
      const out = join(tmp, `${name}.json`);
      const r = cli('circuit', '--model', model, '--pairs', jsonl, '--method', 'eap-ig', '--steps', '2', '--top-n', '20', '--curve', '--out', out);
      assert.equal(r.code, 0, r.err);
      const j = readJson(out);
      assert.equal(j.edges.length, edges);
      const dsts = new Set<string>(j.edges.map((e: { dst: string }) => e.dst));
      const { heads, kvHeads = heads, layers } = DECODER_FIXTURES[name];
      for (let l = 0; l < layers; l++) {
        for (let h = 0; h < heads; h++) assert.ok(dsts.has(`a${l}.h${h}q`));
        for (let h = 0; h < heads; h++) for (const kv of 'kv') assert.equal(dsts.has(`a${l}.h${h}${kv}`), h < kvHeads, `a${l}.h${h}${kv}`);
      }
      const ownMlp = j.edges.filter((e: { src: string; dst: string }) => {
        const [a, m] = [/^a(\d+)\./.exec(e.src), /^m(\d+)$/.exec(e.dst)];
        return a && m && a[1] === m[1];
      });
      assert.equal(ownMlp.length, name === 'neox-parallel' ? 0 : layers * heads);
      for (const p of j.faithfulness.filter((p: { n: number }) => p.n === edges)) assert.ok(Math.abs(p.faithfulness - 1) < 1e-3, JSON.stringify(p));
      assert.ok(j.faithfulness.some((p: { n: number }) => p.n === edges), 'the curve reaches the full graph');
    });
  }
});
