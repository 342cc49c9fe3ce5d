/**
 * The layered drawing of an edge graph, in pixels: one row per layer, the input at the bottom and
 * the logits at the top. A layer's heads sit side by side and its MLP at the row's right end,
 * raised by part of a row, so that a head's edge into its own layer's MLP climbs instead of running
 * flat along the row. A head's q, k and v inputs are three ports on its lower edge (left to
 * right), an MLP's and the logits' input the middle of theirs; edges leave a node's top.
 * Pure: a shape and a box in, positions and SVG path data out.
 */
import type { EdgeGraph, GraphShape } from '../../../shared/circuit-graph.ts';
import { readerNode } from './circuit-model.ts';
import { RDBU, RDBU_DARK } from './charts/theme.ts';

export interface NodeBox {
  /** the graph's node name: input, a{l}.h{h}, m{l}, logits */
  name: string;
  /** what the box says: h3, MLP, input, logits */
  label: string;
  kind: 'input' | 'head' | 'mlp' | 'logits';
  layer: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface GraphLayout {
  width: number;
  height: number;
  /** node id (source index, the logits last) → its box */
  nodes: NodeBox[];
  /** layer labels on the left: the y of each layer's row of heads */
  rows: { label: string; y: number }[];
  /** the left margin the row labels take */
  gutter: number;
}

const GUTTER = 34;
const PAD = 8;

/** Boxes for every node of a graph of `shape`, in a width × height box. */
export function layoutGraph(shape: GraphShape, width: number, height: number): GraphLayout {
  const L = shape.nLayers;
  const H = shape.nHeads;
  const w = Math.max(width, 120);
  const h = Math.max(height, 120);
  // Rows from the bottom: input, layers 0 … L−1, logits; each layer's MLP sits `lift` of a row above its heads.
  const rowsCount = L + 2;
  const pitch = (h - 2 * PAD) / rowsCount;
  const nodeH = Math.max(8, Math.min(22, pitch * 0.42));
  const lift = Math.min(pitch * 0.5, pitch - nodeH - 2);
  const rowY = (r: number) => h - PAD - pitch * (r + 0.5); // r = 0 input … L + 1 logits; the row's centre
  const slots = H + 1.4; // the heads, then a gap and the MLP
  const slot = (w - GUTTER - PAD) / slots;
  const headW = Math.max(6, Math.min(64, slot * 0.84));
  const mlpW = Math.max(10, Math.min(72, slot * 1.1));
  const wideW = Math.min(160, (w - GUTTER - PAD) * 0.4);
  const centreX = GUTTER + (w - GUTTER - PAD) / 2;
  const nodes: NodeBox[] = [{ name: 'input', label: 'input', kind: 'input', layer: -1, x: centreX - wideW / 2, y: rowY(0) - nodeH / 2, w: wideW, h: nodeH }];
  const rows: GraphLayout['rows'] = [];
  for (let l = 0; l < L; l++) {
    const y = rowY(l + 1);
    rows.push({ label: `L${l}`, y });
    for (let hd = 0; hd < H; hd++) {
      const cx = GUTTER + slot * (hd + 0.5);
      nodes.push({ name: `a${l}.h${hd}`, label: `h${hd}`, kind: 'head', layer: l, x: cx - headW / 2, y: y - nodeH / 2, w: headW, h: nodeH });
    }
    const mx = GUTTER + slot * (H + 0.85);
    nodes.push({ name: `m${l}`, label: 'MLP', kind: 'mlp', layer: l, x: mx - mlpW / 2, y: y - lift - nodeH / 2, w: mlpW, h: nodeH });
  }
  nodes.push({ name: 'logits', label: 'logits', kind: 'logits', layer: L, x: centreX - wideW / 2, y: rowY(L + 1) - nodeH / 2, w: wideW, h: nodeH });
  return { width: w, height: h, nodes, rows, gutter: GUTTER };
}

/** Where an edge leaves its source: the middle of the node's top. */
export function outPort(layout: GraphLayout, node: number): [number, number] {
  const b = layout.nodes[node];
  return [b.x + b.w / 2, b.y];
}

/** Where destination input j enters its reader: q, k, v at a quarter, half, three quarters of a head's lower edge. */
export function inPort(layout: GraphLayout, g: EdgeGraph, j: number): [number, number] {
  const b = layout.nodes[readerNode(g, j)];
  const kind = g.destinations[j].kind;
  const f = kind === 'q' ? 0.22 : kind === 'k' ? 0.5 : kind === 'v' ? 0.78 : 0.5;
  return [b.x + b.w * f, b.y + b.h];
}

/** An edge as an SVG cubic: it leaves upwards and arrives from below, bending halfway. */
export function edgePath(layout: GraphLayout, g: EdgeGraph, e: number): string {
  const [x1, y1] = outPort(layout, g.src[e]);
  const [x2, y2] = inPort(layout, g, g.dst[e]);
  // Short hops (a head into its own layer's MLP) bend less, so they do not loop below their source.
  const my = (y1 + y2) / 2;
  const r = (v: number) => Math.round(v * 10) / 10;
  return `M${r(x1)},${r(y1)}C${r(x1)},${r(my)} ${r(x2)},${r(my)} ${r(x2)},${r(y2)}`;
}

/** Stroke width by |S| relative to the strongest edge: area-like (square root), 0.6 … 4 px. */
export function edgeWidth(score: number, maxAbs: number): number {
  if (!(maxAbs > 0) || !Number.isFinite(score)) return 0.6;
  return 0.6 + 3.4 * Math.sqrt(Math.min(1, Math.abs(score) / maxAbs));
}

/** Edge colours by sign, from the app's diverging scale (RdBu: red raises the metric, blue lowers it). */
export const EDGE_COLOURS = {
  light: { pos: RDBU[9], neg: RDBU[1] },
  dark: { pos: RDBU_DARK[10], neg: RDBU_DARK[0] },
} as const;
