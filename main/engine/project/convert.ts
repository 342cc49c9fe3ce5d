/** Between the engine's patching results and projects, shared by the app and the command line. */
import { badInput } from '../errors.ts';
import type { PatchingResult, PatchRequest } from '../patching/index.ts';
import type { PromptPair } from '../patching/pairs.ts';
import { appVersion } from './io.ts';
import type { ModelRef, Project, ProjectSettings } from './types.ts';

export function settingsFromRequest(req: PatchRequest, prependBos: boolean): ProjectSettings {
  const s: ProjectSettings = { direction: req.direction, metric: req.metric, kinds: [...req.kinds], method: req.method, prependBos };
  if (req.verifyTop !== undefined) s.verifyTop = req.verifyTop;
  if (req.qkFix) s.qkFix = true;
  if (req.gradDrop) s.gradDrop = true;
  if (req.rankBy !== undefined) s.rankBy = req.rankBy;
  if (req.recallK !== undefined) s.recallK = req.recallK;
  return s;
}

export function requestFromSettings(s: ProjectSettings): PatchRequest {
  const req: PatchRequest = { direction: s.direction, metric: s.metric, kinds: [...s.kinds], method: s.method };
  if (s.verifyTop !== undefined) req.verifyTop = s.verifyTop;
  if (s.qkFix) req.qkFix = true;
  if (s.gradDrop) req.gradDrop = true;
  if (s.rankBy !== undefined) req.rankBy = s.rankBy;
  if (s.recallK !== undefined) req.recallK = s.recallK;
  return req;
}

export interface ProjectInputs {
  pairs: PromptPair[];
  settings: ProjectSettings;
  /** from describeModel */
  model: ModelRef;
  view?: Record<string, unknown>;
}

/** A project without results (pairs and settings chosen, not run yet). */
export function emptyProject(i: ProjectInputs): Project {
  return { pairs: i.pairs, settings: i.settings, model: i.model, provenance: null, results: null, view: i.view ?? {} };
}

/**
 * A project holding `result`, computed from `pairs` with `settings` on `model`. The result's arrays
 * are shared, not copied. `date` defaults to now, `version` to this app's.
 */
export function projectFromResult(result: PatchingResult, i: ProjectInputs & { date?: Date; version?: string }): Project {
  const s = i.settings;
  const mismatch = (what: string, a: unknown, b: unknown) => badInput(`the result's ${what} (${String(a)}) differs from the settings' (${String(b)})`);
  if (result.direction !== s.direction) throw mismatch('direction', result.direction, s.direction);
  if (result.metric.name !== s.metric) throw mismatch('metric', result.metric.name, s.metric);
  if (result.kinds.map((k) => k.kind).join() !== s.kinds.join()) throw mismatch('kinds', result.kinds.map((k) => k.kind), s.kinds);
  if (result.tokens.clean.length !== i.pairs.length) throw mismatch('number of pairs', result.tokens.clean.length, i.pairs.length);
  return {
    pairs: i.pairs,
    settings: s,
    model: i.model,
    provenance: { appVersion: i.version ?? appVersion(), backend: result.backend, date: (i.date ?? new Date()).toISOString(), seconds: result.seconds },
    results: { metric: { clean: result.metric.clean, corrupted: result.metric.corrupted }, tokens: result.tokens, kinds: result.kinds },
    view: i.view ?? {},
  };
}

/** The project's results as the engine returns them (for the result views and report writers); null if not run. */
export function resultFromProject(p: Project): PatchingResult | null {
  if (!p.results || !p.provenance) return null;
  return {
    direction: p.settings.direction,
    metric: { name: p.settings.metric, clean: p.results.metric.clean, corrupted: p.results.metric.corrupted },
    tokens: p.results.tokens,
    kinds: p.results.kinds,
    backend: p.provenance.backend,
    seconds: p.provenance.seconds,
  };
}
