/**
 * A Patchbench project: everything needed to reopen, rerun and share one analysis (prompt pairs,
 * settings, a reference to the model with its fingerprint, results with their provenance, and the
 * view state). This is the in-memory form; format.ts describes the file.
 */
import { PatchbenchError } from '../errors.ts';
import type { MetricName } from '../metrics.ts';
import type { Kind } from '../patching/components.ts';
import type { KindResult, Method, Ranking } from '../patching/index.ts';
import type { PromptPair } from '../patching/pairs.ts';
import type { Direction, TokenizedPairs } from '../patching/runs.ts';
import type { ProjectCircuit } from './circuit.ts';

/** The schema this version of the app writes, and the newest it reads. */
export const SCHEMA_VERSION = 2;
export const PROJECT_EXTENSION = '.patchbench';

export interface ProjectSettings {
  direction: Direction;
  metric: MetricName;
  kinds: Kind[];
  method: Method;
  verifyTop?: number;
  /** AtP* options (absent in files written before them: off) */
  qkFix?: boolean;
  gradDrop?: boolean;
  rankBy?: Ranking;
  recallK?: number;
  prependBos: boolean;
}

/** Sizes of the model that the result shapes depend on. */
export interface ModelDims {
  nLayers: number;
  nHeads: number;
  /** key/value heads, where fewer than nHeads (grouped-query attention): head_k and head_v are indexed by them */
  nKvHeads?: number;
  dModel: number;
  dMlp: number;
  dVocab: number;
}

export interface ModelFile {
  /** file name inside the model folder */
  name: string;
  bytes: number;
}

export interface ModelRef {
  /**
   * Absolute in memory. In the file: absolute, or relative to the folder of the project file
   * (with `/` separators), which saveProject uses when both live inside the app's resources.
   */
  path: string;
  name: string;
  /** `sha256:<hex>` over config.json and the weight files (see fingerprint.ts); null if unknown (migrated from v1) */
  fingerprint: string | null;
  /** config.json and the weight files with their sizes, in fingerprint order */
  files: ModelFile[];
  /** null if unknown (migrated from v1) */
  dims: ModelDims | null;
  /**
   * The app's bundled demo model: when `path` does not resolve (another install location), the
   * current install's bundled model is used instead, and the fingerprint is still checked.
   */
  bundled?: boolean;
}

export interface Provenance {
  /** version of Patchbench that computed the results; null if unknown (migrated from v1) */
  appVersion: string | null;
  /** compute backend, e.g. `wasm` */
  backend: string;
  /** when the results were computed, ISO 8601 */
  date: string;
  seconds: number;
}

export interface ProjectResults {
  /** raw metric (settings.metric) of the clean and the corrupted prompts, mean over pairs */
  metric: { clean: number; corrupted: number };
  tokens: TokenizedPairs;
  /** in the order of settings.kinds; arrays are float32, NaN where not computed */
  kinds: KindResult[];
}

/** Present only in autosave files (recovery.ts). */
export interface AutosaveInfo {
  /** the project file this autosave belongs to; null for a project never saved */
  projectPath: string | null;
  date: string;
}

export interface Project {
  pairs: PromptPair[];
  settings: ProjectSettings;
  model: ModelRef;
  /** null exactly when results is null (a project not run yet) */
  provenance: Provenance | null;
  results: ProjectResults | null;
  /** view state of the app (selected component, sort, filters, theme, …): free-form JSON, kept apart from results */
  view: Record<string, unknown>;
  /** edge attribution scores, a circuit and its faithfulness curve (optional; see circuit.ts) */
  circuit?: ProjectCircuit;
  autosave?: AutosaveInfo;
}

export const badProject = (message: string) => new PatchbenchError('bad-project', message);
