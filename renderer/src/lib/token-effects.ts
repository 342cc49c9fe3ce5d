/**
 * The token view's content: the first pair's clean and corrupted tokens, and for the focused
 * component the effects of its siblings at every position (the same kind and layer, and the same
 * head for head_z_pos), so the tokens can be shaded by where patching matters. Pure.
 */
import type { PatchingResult } from '../../../shared/contract.ts';
import { componentLabel } from './rows.ts';
import { coordsOf, indexOf, kindResultOf, type ComponentRef } from './selection.ts';
import { showToken } from './tokens.ts';

export interface TokenEffect {
  pos: number;
  clean: string;
  corrupted: string;
  differs: boolean;
  /** the component at this position (null when the focused kind has no position) */
  ref: ComponentRef | null;
  attribution: number | null;
  activation: number | null;
}

export interface TokenEffects {
  /** what the shading shows, e.g. "resid_pre at layer 1, per position" */
  title: string;
  /** a sentence when there is nothing to shade */
  note: string | null;
  focusPos: number | null;
  /** ± the scale's end: the largest |value| shown */
  max: number;
  hasActivation: boolean;
  tokens: TokenEffect[];
}

export function tokenEffects(result: PatchingResult, focus: ComponentRef | null): TokenEffects {
  const { clean, corrupted } = result.positions;
  const P = Math.max(clean.length, corrupted.length);
  const tokens: TokenEffect[] = Array.from({ length: P }, (_, pos) => ({
    pos,
    clean: showToken(clean[pos] ?? ''),
    corrupted: showToken(corrupted[pos] ?? ''),
    differs: clean[pos] !== corrupted[pos],
    ref: null,
    attribution: null,
    activation: null,
  }));
  const base = { focusPos: null, max: 0, hasActivation: false, tokens };
  if (!focus) return { ...base, title: 'Tokens of the first pair', note: 'Select a component (in the table, a scatter plot or a heatmap) to see its effect at each position.' };
  const k = kindResultOf(result, focus.kind);
  if (!k) return { ...base, title: 'Tokens of the first pair', note: null };
  const c = coordsOf(k, focus.index);
  const label = componentLabel(result, focus.kind, c);
  if (!k.dims.includes('pos')) {
    return { ...base, title: label, note: `${label} (${focus.kind}) acts on all positions at once, so it has no per-position effect; choose a resid, attn_out, mlp_out or head_z_pos component to shade the tokens.` };
  }
  let max = 0;
  let hasActivation = false;
  for (const t of tokens) {
    const index = indexOf(k, { ...c, pos: t.pos });
    if (index < 0) continue;
    t.ref = { kind: focus.kind, index };
    const a = k.attribution?.[index];
    const x = k.activation?.[index];
    t.attribution = a !== undefined && Number.isFinite(a) ? a : null;
    t.activation = x !== undefined && Number.isFinite(x) ? x : null;
    if (t.activation !== null) hasActivation = true;
    max = Math.max(max, Math.abs(t.attribution ?? 0), Math.abs(t.activation ?? 0));
  }
  const where = focus.kind === 'head_z_pos' ? `L${c.layer}H${c.head}` : `layer ${c.layer}`;
  return { title: `${focus.kind} at ${where}, per position`, note: null, focusPos: c.pos ?? null, max, hasActivation, tokens };
}
