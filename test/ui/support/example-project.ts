/**
 * A small example project on the fixture model, made with the engine's own API (as the bundled
 * resources/examples/ioi-demo.patchbench is made on the demo model), for the browser tests.
 */
import { cpSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCircuit } from '../../../main/engine/circuits/index.ts';
import { HookedModel } from '../../../main/engine/model.ts';
import { circuitFromResult } from '../../../main/engine/project/circuit.ts';
import { runPatching } from '../../../main/engine/patching/index.ts';
import { tokenizePairs } from '../../../main/engine/patching/pairs.ts';
import { describeModel, projectFromResult, saveProject, settingsFromRequest } from '../../../main/engine/project/index.ts';
import { generatePairs } from '../../../main/engine/tasks/index.ts';
import type { Kind } from '../../../main/engine/patching/components.ts';

export interface ExampleOptions {
  modelDir: string;
  file: string;
  kinds?: Kind[];
  view?: Record<string, unknown>;
  /** also store a circuit (EAP-IG, 2 steps, top 20 edges, with its curve), as the bundled example has */
  circuit?: boolean;
}

export async function makeExampleProject(o: ExampleOptions): Promise<void> {
  const model = await HookedModel.load(o.modelDir);
  try {
    // Pairs of one length (as the app's Generate does): the most common length of a larger draw.
    const byLen = new Map<number, ReturnType<typeof generatePairs>>();
    for (const p of generatePairs('ioi', { n: 48, seed: 1, tokenizer: model.tokenizer })) {
      const n = model.tokenizer.encode(p.clean).length;
      byLen.set(n, [...(byLen.get(n) ?? []), p]);
    }
    const pairs = [...byLen.values()].sort((a, b) => b.length - a.length)[0].slice(0, 8);
    const req = { direction: 'denoising' as const, metric: 'logit-diff' as const, kinds: o.kinds ?? (['resid_pre', 'attn_out', 'mlp_out', 'head_z'] as Kind[]), method: 'both' as const };
    const result = await runPatching(model, tokenizePairs(model, pairs), req);
    const project = projectFromResult(result, { pairs, settings: settingsFromRequest(req, true), model: await describeModel(o.modelDir), view: o.view ?? {} });
    if (o.circuit) {
      const c = await runCircuit(model, tokenizePairs(model, pairs), { direction: 'denoising', metric: 'logit-diff', method: 'eap-ig', steps: 2, extraction: 'top-n', n: 20, curve: true });
      project.circuit = circuitFromResult(c);
    }
    mkdirSync(join(o.file, '..'), { recursive: true });
    saveProject(o.file, project, { modelPath: 'absolute' });
  } finally {
    model.dispose();
  }
}

/** A copy of a model folder whose config.json differs by a space (so its fingerprint differs). */
export function changedCopy(modelDir: string, to: string): void {
  cpSync(modelDir, to, { recursive: true });
  writeFileSync(join(to, 'config.json'), readFileSync(join(to, 'config.json'), 'utf8') + ' ');
}
