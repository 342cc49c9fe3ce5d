/**
 * The two forward passes every patching method starts from: the source run (whose activations are
 * patched in) and the base run (which is patched; gradients are taken on it). Denoising: source =
 * clean, base = corrupted. Noising: source = corrupted, base = clean.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KeyValues, Tape } from '../architecture.ts';
import { metricPerRow, type MetricName, type Targets } from '../metrics.ts';
import type { HookedModel } from '../model.ts';
import { KIND_SPECS, type Kind } from './components.ts';

export type Direction = 'denoising' | 'noising';

export interface TokenizedPairs {
  clean: number[][];
  corrupted: number[][];
  answer: number[];
  wrong: number[];
}

export interface PatchContext {
  model: HookedModel;
  direction: Direction;
  metric: MetricName;
  targets: Targets;
  B: number;
  P: number;
  /** activations of the source run, by hook name [B, …] */
  src: Map<string, tf.Tensor>;
  /** activations of the base run, by hook name [B, …] */
  base: Map<string, tf.Tensor>;
  /** keys and values of every layer of the base run (for patched runs that resume mid-sequence) */
  baseKV?: KeyValues[];
  /** the base run's tape, for the backward pass */
  tape?: Tape;
  /** the base run's tokens [B, P] */
  baseTokens: tf.Tensor2D;
  /** the base run's final residual at the last position [B, D] */
  baseFinal: tf.Tensor2D;
  /** raw metric (mean over these pairs) of the clean and the corrupted run */
  clean: number;
  corrupted: number;
  /** the raw metric of the base run: patching effects are changes from it */
  baseValue: number;
  dispose(): void;
}

/** Hooks whose source and base activations a set of kinds needs, at every layer. */
function hooksFor(model: HookedModel, kinds: Kind[], extra: string[] = []): Set<string> {
  const names = new Set<string>();
  for (let l = 0; l < model.config.nLayers; l++) {
    for (const k of kinds) names.add(`blocks.${l}.${KIND_SPECS[k].site}`);
    for (const e of extra) names.add(`blocks.${l}.${e}`);
  }
  return names;
}

function capture(into: Map<string, tf.Tensor>, wanted: Set<string>) {
  return (name: string, x: tf.Tensor) => {
    if (wanted.has(name)) into.set(name, tf.keep(x));
    return x;
  };
}

/** The metric of a run, averaged over pairs (in float64 on the JS side). */
export async function meanMetric(model: HookedModel, metric: MetricName, final: tf.Tensor2D, t: Targets): Promise<number> {
  const rows = metricPerRow(model, metric, final, t);
  const xs = (await rows.data()) as Float32Array;
  rows.dispose();
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * Runs source and base. `forAttribution` records the base run's tape; `forActivation` keeps its
 * keys/values and residual streams so patched runs can resume from any layer and position.
 */
export async function prepareRuns(
  model: HookedModel,
  pairs: TokenizedPairs,
  o: {
    direction: Direction;
    metric: MetricName;
    kinds: Kind[];
    forAttribution: boolean;
    forActivation: boolean;
    /** hook sites (within a block) to capture from both runs besides the kinds' own, e.g. the QK fix's queries and keys */
    extraSites?: string[];
  },
): Promise<PatchContext> {
  const B = pairs.clean.length;
  const P = pairs.clean[0].length;
  const targets = { answer: pairs.answer, wrong: pairs.wrong };
  const [srcTokens, baseTokens] = o.direction === 'denoising' ? [pairs.clean, pairs.corrupted] : [pairs.corrupted, pairs.clean];
  const wanted = hooksFor(model, o.kinds, o.extraSites);
  // Patched runs resume from the base run's residual stream; the source run's is not needed for that.
  const baseWanted = o.forActivation ? hooksFor(model, o.kinds, [...(o.extraSites ?? []), 'hook_resid_pre']) : wanted;
  const src = new Map<string, tf.Tensor>();
  const base = new Map<string, tf.Tensor>();
  const tape: Tape | undefined = o.forAttribution ? model.newTape(P) : undefined;
  const srcT = model.tokensTensor(srcTokens);
  const baseT = model.tokensTensor(baseTokens);
  const owned: tf.Tensor[] = [];
  try {
    const s = model.run(srcT, { hook: capture(src, wanted), lastOnlyFinal: false });
    owned.push(s.final);
    const b = model.run(baseT, { hook: capture(base, baseWanted), tape, keepKV: o.forActivation });
    const srcValue = await meanMetric(model, o.metric, s.final, targets);
    const baseValue = await meanMetric(model, o.metric, b.final, targets);
    const [clean, corrupted] = o.direction === 'denoising' ? [srcValue, baseValue] : [baseValue, srcValue];
    const ctx: PatchContext = {
      model, direction: o.direction, metric: o.metric, targets, B, P, src, base,
      baseKV: b.kv, tape, baseTokens: baseT, baseFinal: b.final, clean, corrupted, baseValue,
      dispose() {
        tf.dispose([...src.values(), ...base.values(), b.final, baseT]);
        for (const kv of b.kv ?? []) tf.dispose([kv.kT, kv.v]);
        tape?.dispose();
        src.clear();
        base.clear();
      },
    };
    return ctx;
  } catch (e) {
    tf.dispose([...src.values(), ...base.values(), baseT]);
    tape?.dispose();
    throw e;
  } finally {
    tf.dispose([srcT, ...owned]);
  }
}
