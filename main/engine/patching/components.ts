/**
 * Component kinds: what can be patched, how components are indexed, and how one component selects
 * elements of its hook's activation. One table drives attribution, activation patching and output,
 * so adding a kind is one entry here (TransformerLens's generic_activation_patch, thinly specialised).
 */
import { KIND_NAMES } from '../../../shared/contract.ts';
import type { ModelConfig } from '../config.ts';
import { badInput } from '../errors.ts';

/** The kinds, in output order; declared once in the shared contract, which the UI reads too. */
export const KINDS = KIND_NAMES;
export type Kind = (typeof KINDS)[number];

export interface KindSpec {
  /** hook site within a block, e.g. `attn.hook_z` */
  site: string;
  /** names of the index dimensions after the layer, e.g. ['pos'] or ['head', 'pos'] */
  dims: ('pos' | 'head' | 'neuron')[];
  /** human description, for help texts */
  what: string;
  /** indexed by key/value head (fewer than query heads under grouped-query attention), as TransformerLens's hook_k/hook_v */
  kvHeads?: true;
}

export const KIND_SPECS: Record<Kind, KindSpec> = {
  resid_pre: { site: 'hook_resid_pre', dims: ['pos'], what: 'residual stream before the block, one position' },
  resid_mid: { site: 'hook_resid_mid', dims: ['pos'], what: 'residual stream between attention and MLP, one position' },
  resid_post: { site: 'hook_resid_post', dims: ['pos'], what: 'residual stream after the block, one position' },
  attn_out: { site: 'hook_attn_out', dims: ['pos'], what: 'attention output, one position' },
  mlp_out: { site: 'hook_mlp_out', dims: ['pos'], what: 'MLP output, one position' },
  head_z: { site: 'attn.hook_z', dims: ['head'], what: "a head's output z at every position" },
  head_q: { site: 'attn.hook_q', dims: ['head'], what: "a head's queries at every position" },
  head_k: { site: 'attn.hook_k', dims: ['head'], what: "a key/value head's keys at every position", kvHeads: true },
  head_v: { site: 'attn.hook_v', dims: ['head'], what: "a key/value head's values at every position", kvHeads: true },
  head_z_pos: { site: 'attn.hook_z', dims: ['head', 'pos'], what: "a head's output z at one position" },
  head_pattern: { site: 'attn.hook_pattern', dims: ['head'], what: "a head's whole attention pattern" },
  neuron: { site: 'mlp.hook_post', dims: ['neuron'], what: 'one MLP neuron at every position' },
};

/** A `--kinds` list; `all` (the default) means every kind in `available`. */
export function parseKinds(s: string | undefined, available: readonly Kind[] = KINDS): Kind[] {
  if (!s || s === 'all') return [...available];
  const out: Kind[] = [];
  for (const k of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(KINDS as readonly string[]).includes(k)) throw badInput(`unknown kind "${k}" (known: ${KINDS.join(', ')}, or all)`);
    if (!out.includes(k as Kind)) out.push(k as Kind);
  }
  if (out.length === 0) throw badInput('no kinds given');
  return out;
}

/** The kinds whose hook site a family's blocks have (`resid_mid` is absent under parallel attention). */
export function availableKinds(blockHooks: readonly string[]): Kind[] {
  return KINDS.filter((k) => blockHooks.includes(KIND_SPECS[k].site));
}

/** Refuses, by name, kinds the model does not have. */
export function checkKindsAvailable(kinds: readonly Kind[], available: readonly Kind[], family: string): void {
  const missing = kinds.filter((k) => !available.includes(k));
  if (missing.length) {
    const why = missing.includes('resid_mid') ? ' (attention and MLP run in parallel, so there is no residual stream between them)' : '';
    throw badInput(`${family} has no ${missing.join(', ')}${why}; its kinds are ${available.join(', ')}`);
  }
}

/** Sizes of a kind's index dimensions, layer first: e.g. head_z_pos → [L, H, P]. */
export function indexShape(kind: Kind, cfg: Pick<ModelConfig, 'nLayers' | 'nHeads' | 'nKvHeads' | 'dMlp'>, positions: number): number[] {
  const size = { pos: positions, head: KIND_SPECS[kind].kvHeads ? cfg.nKvHeads : cfg.nHeads, neuron: cfg.dMlp };
  return [cfg.nLayers, ...KIND_SPECS[kind].dims.map((d) => size[d])];
}

export function componentCount(kind: Kind, cfg: Pick<ModelConfig, 'nLayers' | 'nHeads' | 'nKvHeads' | 'dMlp'>, positions: number): number {
  return indexShape(kind, cfg, positions).reduce((a, b) => a * b, 1);
}

/** The index tuple of component `i` (row-major over indexShape). */
export function componentIndex(shape: number[], i: number): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return out;
}

/** The readable label of a component: `L5H3`, `L2 pos 4`, `L1N37`, `L5H3 pos 4`. Never parsed back. */
export function componentLabel(kind: Kind, index: number[]): string {
  const [l, ...rest] = index;
  const spec = KIND_SPECS[kind];
  let s = `L${l}`;
  spec.dims.forEach((d, i) => {
    s += d === 'head' ? `H${rest[i]}` : d === 'neuron' ? `N${rest[i]}` : ` pos ${rest[i]}`;
  });
  return kind.startsWith('head_') || kind === 'neuron' ? `${s}${kind === 'head_z' || kind === 'head_z_pos' || kind === 'neuron' ? '' : ' ' + kind.slice(5)}` : `${kind} ${s}`;
}
