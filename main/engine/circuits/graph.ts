/** The edge graph (shared/circuit-graph.ts) of a loaded model's configuration. */
import type { ModelConfig } from '../config.ts';
import type { GraphShape } from '../../../shared/circuit-graph.ts';

export * from '../../../shared/circuit-graph.ts';

export function graphShape(cfg: ModelConfig): GraphShape {
  return { nLayers: cfg.nLayers, nHeads: cfg.nHeads, nKvHeads: cfg.nKvHeads, parallelAttnMlp: cfg.parallelAttnMlp };
}
