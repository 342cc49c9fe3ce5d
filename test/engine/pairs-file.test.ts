/** Pairs files as editors write them: with a UTF-8 byte-order mark, and with CRLF or CR-only line ends. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePairsJsonl } from '../../main/engine/patching/pairs.ts';

const a = { clean: 'When John and Mary went', corrupted: 'When Mary and John went', answer: ' Mary', wrong: ' John' };
const b = { ...a, answer: ' John', wrong: ' Mary' };
const lines = [JSON.stringify(a), JSON.stringify(b)];

for (const [what, text] of [
  ['LF', lines.join('\n') + '\n'],
  ['a BOM', '\uFEFF' + lines.join('\n')],
  ['CRLF and a BOM', '\uFEFF' + lines.join('\r\n') + '\r\n'],
  ['CR alone', lines.join('\r') + '\r'],
  ['mixed line ends and blank lines', lines[0] + '\r\r\n' + lines[1] + '\n\r'],
] as const) {
  test(`a pairs file with ${what} reads as the same two pairs`, () => {
    const r = parsePairsJsonl(Buffer.from(text, 'utf8').toString('utf8'), 'p.jsonl');
    assert.deepEqual(r.pairs, [a, b]);
  });
}

test('line numbers in errors count CR-only lines too', () => {
  assert.throws(() => parsePairsJsonl(lines[0] + '\r{"clean": 1}\r', 'p.jsonl'), /p\.jsonl line 2: field "clean" must be a string/);
  assert.throws(() => parsePairsJsonl('\uFEFF{oops', 'p.jsonl'), (e: Error) => /^p\.jsonl line 1: not valid JSON/.test(e.message) && !e.message.includes('\uFEFF'));
});
