/**
 * Project files with a circuit: edge scores, the circuit and its curve survive a save and reopen
 * bit for bit; a project without one opens as before; a damaged circuit section is named.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCircuit } from '../main/engine/circuits/index.ts';
import { HookedModel } from '../main/engine/model.ts';
import { parsePairsJsonl, tokenizePairs } from '../main/engine/patching/pairs.ts';
import { circuitFromResult } from '../main/engine/project/circuit.ts';
import { encodeProject, readContainer, writeContainer } from '../main/engine/project/format.ts';
import { describeModel, emptyProject, loadProject, saveProject, type Project } from '../main/engine/project/index.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { TINY } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-project-circuit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('a project with a circuit', () => {
  let project: Project;
  before(async () => {
    const model = await HookedModel.load(TINY);
    const { pairs } = parsePairsJsonl(readFileSync(`${TINY}/expected/ioi.pairs.jsonl`, 'utf8'), 'ioi.pairs.jsonl');
    const r = await runCircuit(model, tokenizePairs(model, pairs), { direction: 'denoising', metric: 'logit-diff', method: 'eap-ig', steps: 2, extraction: 'top-n', n: 20, curve: true });
    model.dispose();
    project = emptyProject({ pairs, settings: { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'attribution', prependBos: true }, model: await describeModel(TINY) });
    project.circuit = circuitFromResult(r);
  });

  test('round trip: scores bit for bit, the circuit, the curve and the request', () => {
    const file = join(tmp, 'c.patchbench');
    saveProject(file, project);
    const back = loadProject(file);
    const c = back.circuit!;
    assert.deepEqual(Buffer.from(c.eap.buffer), Buffer.from(project.circuit!.eap.buffer));
    assert.deepEqual(Buffer.from(c.eapIg!.buffer), Buffer.from(project.circuit!.eapIg!.buffer));
    assert.deepEqual(c.circuit, project.circuit!.circuit);
    assert.deepEqual(c.faithfulness, project.circuit!.faithfulness);
    assert.deepEqual(c.request, project.circuit!.request);
    assert.deepEqual(c.graph, { nLayers: 2, nHeads: 4, nKvHeads: 4, parallelAttnMlp: false });
  });

  test('a project without a circuit opens without one', () => {
    const file = join(tmp, 'plain.patchbench');
    saveProject(file, { ...project, circuit: undefined });
    assert.equal(loadProject(file).circuit, undefined);
  });

  test('a damaged circuit section is named', () => {
    const edit = (name: string, change: (h: Record<string, any>) => void) => {
      const { header, data } = readContainer(Buffer.concat(encodeProject(project, TINY)), 'x');
      change(header as Record<string, any>);
      const file = join(tmp, name);
      writeFileSync(file, Buffer.concat(writeContainer(header as object, [data])));
      return file;
    };
    const short = edit('short.patchbench', (h) => (h.circuit.graph.nLayers = 3));
    assert.throws(() => loadProject(short), /circuit\.eap has 110 values, expected \d+/);
    const badRanking = edit('rank.patchbench', (h) => (h.circuit.faithfulness[0].ranking = 'acdc'));
    assert.throws(() => loadProject(badRanking), /circuit\.faithfulness\[0\]\.ranking must be one of eap, eap_ig, random/);
    const noIg = edit('noig.patchbench', (h) => delete h.circuit.eapIg);
    assert.throws(() => loadProject(noIg), /missing field circuit\.eapIg|unexpected bytes/);
  });
});
