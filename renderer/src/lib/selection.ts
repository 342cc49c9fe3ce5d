/**
 * The one linked selection shared by the ranking table, the scatter plots, the heatmaps and the
 * token view: a component under the pointer (`hovered`) and one picked by a click or the keyboard
 * (`locked`). Every view shows `focusOf(selection)`: the hovered component while there is one, else
 * the locked one. Pure functions on immutable values, so they are unit-tested without a page.
 */
import type { KindName, KindResult, PatchingResult } from '../../../shared/contract.ts';

/** A component: its kind and its flat index within the kind (row-major over the kind's shape). */
export interface ComponentRef {
  kind: KindName;
  index: number;
}

export interface Selection {
  hovered: ComponentRef | null;
  locked: ComponentRef | null;
}

export const EMPTY_SELECTION: Selection = Object.freeze({ hovered: null, locked: null });

export const sameRef = (a: ComponentRef | null | undefined, b: ComponentRef | null | undefined): boolean =>
  a === b || (!!a && !!b && a.kind === b.kind && a.index === b.index);

/** What every view shows. */
export const focusOf = (s: Selection): ComponentRef | null => s.hovered ?? s.locked;

/** The pointer entered a component (or left every component: null). */
export function hover(s: Selection, ref: ComponentRef | null): Selection {
  return sameRef(s.hovered, ref) ? s : { ...s, hovered: ref };
}

/** A click: locks the component, or unlocks it when it was the locked one. */
export function toggleLock(s: Selection, ref: ComponentRef): Selection {
  return { ...s, locked: sameRef(s.locked, ref) ? null : ref };
}

/** Locks a component (the keyboard, a link, a restored view), or clears the lock with null. */
export function lock(s: Selection, ref: ComponentRef | null): Selection {
  return sameRef(s.locked, ref) ? s : { ...s, locked: ref };
}

/** Keeps only the parts of a selection that exist in a (new) result. */
export function restrictTo(s: Selection, result: PatchingResult | null): Selection {
  const ok = (r: ComponentRef | null) => (r && result && isValidRef(result, r) ? r : null);
  const hovered = ok(s.hovered);
  const locked = ok(s.locked);
  return hovered === s.hovered && locked === s.locked ? s : { hovered, locked };
}

export function kindResultOf(result: PatchingResult, kind: KindName): KindResult | undefined {
  return result.kinds.find((k) => k.kind === kind);
}

export const sizeOf = (k: KindResult): number => k.shape.reduce((a, b) => a * b, 1);

export function isValidRef(result: PatchingResult, ref: ComponentRef): boolean {
  const k = kindResultOf(result, ref.kind);
  return !!k && Number.isInteger(ref.index) && ref.index >= 0 && ref.index < sizeOf(k);
}

export interface Coords {
  layer: number;
  head?: number;
  pos?: number;
  neuron?: number;
}

/** A flat index's coordinates, by the kind's named dimensions (layer first). */
export function coordsOf(k: Pick<KindResult, 'dims' | 'shape'>, index: number): Coords {
  const out: Record<string, number> = {};
  let rest = index;
  for (let d = k.shape.length - 1; d >= 0; d--) {
    out[k.dims[d]] = rest % k.shape[d];
    rest = Math.floor(rest / k.shape[d]);
  }
  return out as unknown as Coords;
}

/** The flat index of coordinates, or -1 when they are outside the kind's shape. */
export function indexOf(k: Pick<KindResult, 'dims' | 'shape'>, c: Coords): number {
  let index = 0;
  for (let d = 0; d < k.shape.length; d++) {
    const v = (c as unknown as Record<string, number | undefined>)[k.dims[d]];
    if (v === undefined || !Number.isInteger(v) || v < 0 || v >= k.shape[d]) return -1;
    index = index * k.shape[d] + v;
  }
  return index;
}

/** The table row of each kind's first component (rows are kinds in result order, then flat index). */
export function kindOffsets(result: PatchingResult): Map<KindName, number> {
  const m = new Map<KindName, number>();
  let r = 0;
  for (const k of result.kinds) {
    m.set(k.kind, r);
    r += sizeOf(k);
  }
  return m;
}

export function rowOfRef(result: PatchingResult, ref: ComponentRef): number {
  const off = kindOffsets(result).get(ref.kind);
  return off === undefined || !isValidRef(result, ref) ? -1 : off + ref.index;
}

export function refOfRow(result: PatchingResult, row: number): ComponentRef | null {
  let r = row;
  for (const k of result.kinds) {
    const n = sizeOf(k);
    if (r < n) return r >= 0 ? { kind: k.kind, index: r } : null;
    r -= n;
  }
  return null;
}

/**
 * The keyboard in the table: moves the lock `delta` rows through the rows as shown (sorted and
 * filtered); from no lock, Down starts at the first row and Up at the last.
 */
export function stepLock(s: Selection, result: PatchingResult, rows: ArrayLike<number>, delta: number): Selection {
  if (rows.length === 0) return s;
  const current = s.locked ? rowOfRef(result, s.locked) : -1;
  let at = -1;
  for (let i = 0; i < rows.length; i++) {
    if (rows[i] === current) {
      at = i;
      break;
    }
  }
  const next = at < 0 ? (delta >= 0 ? 0 : rows.length - 1) : Math.max(0, Math.min(rows.length - 1, at + delta));
  return lock(s, refOfRow(result, rows[next]));
}

/** The selection as view state in a project file (only the lock; hovering is momentary). */
export function selectionToView(s: Selection): { kind: KindName; index: number } | null {
  return s.locked ? { kind: s.locked.kind, index: s.locked.index } : null;
}

export function selectionFromView(x: unknown, result: PatchingResult | null): Selection {
  const v = x as { kind?: unknown; index?: unknown } | null;
  if (!v || typeof v.kind !== 'string' || typeof v.index !== 'number' || !result) return EMPTY_SELECTION;
  const ref = { kind: v.kind as KindName, index: v.index };
  return isValidRef(result, ref) ? { hovered: null, locked: ref } : EMPTY_SELECTION;
}
