/** The edge graph (shared/circuit-graph.ts) of a loaded model's configuration. */
import type { ModelConfig } from '../config.ts';
import type { GraphShape } from '../../../shared/circuit-graph.ts';

export * from '../../../shared/circuit-graph.ts';

export function graphShape(cfg: ModelConfig): GraphShape {
  // Families that group keys and values or run attention and MLP in parallel say so in their config.
  const c = cfg as ModelConfig & { nKvHeads?: number; parallelAttnMlp?: boolean };
  return { nLayers: cfg.nLayers, nHeads: cfg.nHeads, nKvHeads: c.nKvHeads ?? cfg.nHeads, parallelAttnMlp: !!c.parallelAttnMlp };
}
