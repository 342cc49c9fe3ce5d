/**
 * Project integrity: every stored array carries a CRC-32 checked on opening, unknown keys are
 * ignored with a warning, files written before checksums existed still open, and a project
 * without pairs can be saved and opened.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { PatchbenchError } from '../main/engine/errors.ts';
import { readContainer, writeContainer } from '../main/engine/project/format.ts';
import { emptyProject, loadProject, loadProjectInfo, saveProject } from '../main/engine/project/index.ts';
import { ROOT } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-integrity-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const EXAMPLE = join(ROOT, 'resources/examples/ioi-demo.patchbench');

/** A copy of the example with its header and array bytes changed. */
function variant(name: string, edit: (header: any, data: Buffer) => void): string {
  const { header, data } = readContainer(readFileSync(EXAMPLE), EXAMPLE);
  const bytes = Buffer.from(data);
  edit(header, bytes);
  const path = join(tmp, name);
  writeFileSync(path, Buffer.concat(writeContainer(header as object, [bytes])));
  return path;
}

test('every array is saved with its CRC-32', () => {
  const path = join(tmp, 'saved.patchbench');
  saveProject(path, loadProject(EXAMPLE));
  const { header, data } = readContainer(readFileSync(path), path);
  const entry = (header as any).results.kinds.head_z.attribution;
  assert.equal(entry.crc32, crc32(data.subarray(entry.data_offsets[0], entry.data_offsets[1])));
});

test('a flipped bit in an array is caught on opening, naming the array', () => {
  const saved = join(tmp, 'flip-src.patchbench');
  saveProject(saved, loadProject(EXAMPLE));
  const { header } = readContainer(readFileSync(saved), saved);
  const at = (header as any).results.kinds.neuron.activation.data_offsets[0] + 13;
  const buf = readFileSync(saved);
  buf[buf.length - readContainer(buf, saved).data.length + at] ^= 0x04;
  const flipped = join(tmp, 'flipped.patchbench');
  writeFileSync(flipped, buf);
  assert.throws(() => loadProject(flipped), (e: unknown) => {
    assert.ok(e instanceof PatchbenchError && e.code === 'bad-project');
    assert.match(e.message, /flipped\.patchbench: results\.kinds\.neuron\.activation fails its checksum \(CRC-32 [0-9a-f]{8}, stored [0-9a-f]{8}\): the file is damaged/);
    return true;
  });
});

test('a file written before checksums opens as before', () => {
  const old = variant('old.patchbench', (h) => {
    for (const k of Object.values(h.results.kinds) as any[]) for (const f of ['attribution', 'activation']) if (k[f]) delete k[f].crc32;
  });
  const info = loadProjectInfo(old);
  assert.deepEqual(info.warnings, []);
  assert.deepEqual(Array.from(info.project.results!.kinds[0].attribution!), Array.from(loadProject(EXAMPLE).results!.kinds[0].attribution!));
});

test('misspelled or unknown keys are ignored with a warning each', () => {
  const odd = variant('odd.patchbench', (h) => {
    h.setings = { metric: 'logit-diff' };
    h.settings.verifyTopp = 5;
    h.results.kinds.head_z.sumary = {};
  });
  const info = loadProjectInfo(odd);
  assert.deepEqual(info.warnings, [
    'unknown key setings is ignored (misspelled, or written by a newer Patchbench?)',
    'unknown key settings.verifyTopp is ignored (misspelled, or written by a newer Patchbench?)',
    'unknown key results.kinds.head_z.sumary is ignored (misspelled, or written by a newer Patchbench?)',
  ]);
});

test('a project without pairs can be saved and opened', () => {
  const p = loadProject(EXAMPLE);
  const path = join(tmp, 'empty.patchbench');
  saveProject(path, emptyProject({ pairs: [], settings: p.settings, model: p.model, view: {} }));
  assert.deepEqual(loadProject(path).pairs, []);
});
