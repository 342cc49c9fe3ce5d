/**
 * The link between circuit nodes and the ranking table's components, so that one selection serves
 * both. A head node a{l}.h{h} is the head's write to the residual stream, so it is head_z [l, h]
 * when the result has it (else the first head kind it has: the pattern, v, q, k; k and v by the
 * head's KV head under grouped-query attention; head_z_pos at its strongest position). An MLP
 * node m{l} is mlp_out at layer l, at the position of its largest |attribution|. Back the other
 * way, every head kind's component is its head's node (a KV head's: every query head reading it),
 * and mlp_out and neuron components are their layer's MLP. Nothing links when the result's shapes
 * are not the circuit's (another model). Pure.
 */
import type { GraphShape } from '../../../shared/circuit-graph.ts';
import type { KindName, KindResult, PatchingResult } from '../../../shared/contract.ts';
import { coordsOf, indexOf, kindResultOf, type ComponentRef } from './selection.ts';

/** The head kinds a head node links to, in order of preference. */
export const HEAD_KINDS: readonly KindName[] = ['head_z', 'head_pattern', 'head_v', 'head_q', 'head_k', 'head_z_pos'];
const KV_KINDS: readonly KindName[] = ['head_k', 'head_v'];

/** Whether a kind's layers and heads are those of the circuit's graph. */
function fits(k: KindResult, s: GraphShape): boolean {
  if (k.shape[0] !== s.nLayers) return false;
  const hi = k.dims.indexOf('head');
  return hi < 0 || k.shape[hi] === (KV_KINDS.includes(k.kind) ? s.nKvHeads : s.nHeads);
}

/** Whether the result and the circuit come from models of the same shape (else nothing links). */
export function linkable(result: PatchingResult | null, s: GraphShape): boolean {
  if (!result) return false;
  const linked = result.kinds.filter((k) => HEAD_KINDS.includes(k.kind) || k.kind === 'mlp_out' || k.kind === 'neuron');
  return linked.length > 0 && linked.every((k) => fits(k, s));
}

/** The flat index, among a kind's components at fixed coordinates, whose |attribution| is largest (ties: the first). */
function strongestAlong(k: KindResult, fixed: { layer: number; head?: number }, dim: 'pos'): number {
  const n = k.shape[k.dims.indexOf(dim)];
  const values = k.attribution ?? k.activation;
  let best = -1;
  let bestAbs = -1;
  for (let p = 0; p < n; p++) {
    const i = indexOf(k, { ...fixed, [dim]: p });
    const v = values ? Math.abs(values[i]) : 0;
    const a = Number.isFinite(v) ? v : 0;
    if (a > bestAbs) {
      bestAbs = a;
      best = i;
    }
  }
  return best;
}

/** The ranking table's component for a circuit node, or null (the input, the logits, a kind the result lacks). */
export function refOfNode(name: string, result: PatchingResult | null, s: GraphShape): ComponentRef | null {
  if (!result || !linkable(result, s)) return null;
  const a = /^a(\d+)\.h(\d+)$/.exec(name);
  if (a) {
    const layer = +a[1];
    const head = +a[2];
    for (const kind of HEAD_KINDS) {
      const k = kindResultOf(result, kind);
      if (!k) continue;
      if (kind === 'head_z_pos') return { kind, index: strongestAlong(k, { layer, head }, 'pos') };
      const h = KV_KINDS.includes(kind) ? Math.floor(head / (s.nHeads / s.nKvHeads)) : head;
      const index = indexOf(k, { layer, head: h });
      return index < 0 ? null : { kind, index };
    }
    return null;
  }
  const m = /^m(\d+)$/.exec(name);
  if (m) {
    const k = kindResultOf(result, 'mlp_out');
    if (!k || +m[1] >= k.shape[0]) return null;
    return { kind: 'mlp_out', index: strongestAlong(k, { layer: +m[1] }, 'pos') };
  }
  return null;
}

/** The circuit nodes a ranking-table component stands for (empty: none). */
export function nodesOfRef(ref: ComponentRef | null, result: PatchingResult | null, s: GraphShape): string[] {
  if (!ref || !result || !linkable(result, s)) return [];
  const k = kindResultOf(result, ref.kind);
  if (!k || ref.index < 0 || ref.index >= k.shape.reduce((a, b) => a * b, 1)) return [];
  const c = coordsOf(k, ref.index);
  if (ref.kind === 'mlp_out' || ref.kind === 'neuron') return [`m${c.layer}`];
  if (!HEAD_KINDS.includes(ref.kind) || c.head === undefined) return [];
  if (!KV_KINDS.includes(ref.kind)) return [`a${c.layer}.h${c.head}`];
  const group = s.nHeads / s.nKvHeads;
  return Array.from({ length: group }, (_, i) => `a${c.layer}.h${c.head! * group + i}`);
}
