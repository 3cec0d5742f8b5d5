/**
 * The explorer's picture: the open node, the nodes it links to and the nodes those link
 * to (two hops), and the node the user came from, drawn as an SVG with a small radial
 * layout (no library: the open node in the middle, its links on a ring around it, theirs
 * on an outer ring within their parent's slice). Click (or Enter on) a node to open it.
 */
import type { NodeMeta, RustDHT, Value } from 'rustdht';
import type { Names } from './profile.js';

export interface GraphNode {
  readonly soul: string;
  /** 0: the open node; 1 and 2: hops away; -1: where the user came from. */
  readonly depth: number;
  /** The node whose link put it here (undefined for the open node and where the user came from). */
  readonly parent: string | undefined;
  /** A short text for it: its name, text or title property, else its soul's last segment. */
  readonly label: string;
  /** How many properties it has (0: nothing known yet). */
  readonly size: number;
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly key: string;
}

export interface GraphModel {
  readonly root: string;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
  /** Links not drawn (more than MAX_CHILDREN from one node, or past MAX_NODES). */
  readonly hidden: number;
}

const MAX_DEPTH = 2;
const MAX_CHILDREN = 12;
const MAX_NODES = 48;
const MAX_LABEL = 18;

function isLink(value: Value): value is { '#': string } {
  return value !== null && typeof value === 'object' && typeof value['#'] === 'string';
}

const clip = (text: string, max = MAX_LABEL): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** The public key of a `~<key>` space root, if `soul` is one. */
const spaceRoot = (soul: string): string | undefined => /^~([^/]+)$/.exec(soul)?.[1];

function labelOf(soul: string, meta: NodeMeta | undefined, names: Names): string {
  const space = spaceRoot(soul);
  if (space !== undefined) return `~${clip(names.label(space), MAX_LABEL - 1)}`;
  for (const key of ['name', 'text', 'title']) {
    const value = meta?.props[key]?.value;
    if (typeof value === 'string' && value.trim() !== '') return clip(value.trim());
  }
  const last = soul.split('/').filter((s) => s !== '').pop() ?? soul;
  return clip(last);
}

/** Reads a node's record for the picture. */
export type NodeReader = (soul: string) => Promise<NodeMeta | undefined>;

/**
 * A reader that asks the servers for each soul the first time (read-through), then reads
 * locally: the picture is redrawn often, and what a redraw needs was fetched the first time.
 */
export function readThroughOnce(db: RustDHT): NodeReader {
  const asked = new Set<string>();
  return async (soul) => {
    const local = asked.has(soul);
    asked.add(soul);
    return (await db.get(soul).meta({ local })) as NodeMeta | undefined;
  };
}

/** Reads the neighbourhood of `root` (and `from`, where the user came from). */
export async function exploreNeighbourhood(read: NodeReader, names: Names, root: string, from: string | undefined): Promise<GraphModel> {
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  let hidden = 0;
  let level: Array<{ soul: string; parent: string | undefined }> = [{ soul: root, parent: undefined }];
  for (let depth = 0; depth <= MAX_DEPTH && level.length !== 0; depth++) {
    const metas = await Promise.all(level.map(({ soul }) => read(soul)));
    const next: typeof level = [];
    level.forEach(({ soul, parent }, i) => {
      const meta = metas[i];
      nodes.set(soul, { soul, depth, parent, label: labelOf(soul, meta, names), size: meta === undefined ? 0 : Object.keys(meta.props).length });
      if (depth === MAX_DEPTH || meta === undefined) return;
      let children = 0;
      for (const key of Object.keys(meta.props).sort()) {
        const value = meta.props[key]!.value;
        if (!isLink(value)) continue;
        const target = value['#'];
        const known = nodes.has(target) || next.some((n) => n.soul === target);
        if (!known && (children >= MAX_CHILDREN || nodes.size + next.length >= MAX_NODES)) {
          hidden++;
          continue;
        }
        edges.push({ from: soul, to: target, key });
        if (!known) {
          next.push({ soul: target, parent: soul });
          children++;
        }
      }
    });
    level = next;
  }
  if (from !== undefined && from !== root) {
    if (!nodes.has(from)) {
      const meta = await read(from);
      nodes.set(from, { soul: from, depth: -1, parent: undefined, label: labelOf(from, meta, names), size: meta === undefined ? 0 : Object.keys(meta.props).length });
      for (const [key, prop] of Object.entries(meta?.props ?? {})) {
        if (isLink(prop.value) && prop.value['#'] === root) edges.push({ from, to: root, key });
      }
    }
  }
  return { root, nodes: [...nodes.values()], edges, hidden };
}

interface Placed {
  readonly node: GraphNode;
  readonly x: number;
  readonly y: number;
  readonly r: number;
}

const clamp = (x: number, min: number, max: number): number => Math.min(max, Math.max(min, x));

/**
 * Positions: the open node at (0, 0), one ring per hop; a child within its parent's
 * slice. The rings grow with the number of nodes on them (a small graph stays compact,
 * hence large on a phone's screen).
 */
export function layout(model: GraphModel): Map<string, Placed> {
  const placed = new Map<string, Placed>();
  const ring1Count = model.nodes.filter((n) => n.depth === 1 || n.depth === -1).length;
  const ring2Count = model.nodes.filter((n) => n.depth === 2).length;
  const RING_1 = clamp(70 + 9 * ring1Count, 110, 160);
  const RING_2 = RING_1 + clamp(60 + 2 * ring2Count, 80, 110);
  const root = model.nodes.find((n) => n.depth === 0)!;
  placed.set(root.soul, { node: root, x: 0, y: 0, r: 22 });
  // Where the user came from first (top left), then the open node's links clockwise.
  const ring1 = [...model.nodes.filter((n) => n.depth === -1), ...model.nodes.filter((n) => n.depth === 1)];
  const slice = ring1.length === 0 ? 0 : (2 * Math.PI) / ring1.length;
  const start = -Math.PI / 2 - (ring1.length > 1 ? slice / 2 : 0);
  ring1.forEach((node, i) => {
    const angle = start + i * slice;
    placed.set(node.soul, { node, x: RING_1 * Math.cos(angle), y: RING_1 * Math.sin(angle), r: 14 });
    const children = model.nodes.filter((n) => n.depth === 2 && n.parent === node.soul);
    const width = Math.min(slice * 0.9, Math.PI / 1.5);
    const step = children.length <= 1 ? 0 : Math.min(width / (children.length - 1), 0.32);
    children.forEach((child, j) => {
      const a = angle + (j - (children.length - 1) / 2) * step;
      placed.set(child.soul, { node: child, x: RING_2 * Math.cos(a), y: RING_2 * Math.sin(a), r: 9 });
    });
  });
  return placed;
}

const SVG = 'http://www.w3.org/2000/svg';

function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number> = {}, text?: string): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** The kind of soul, for colours: own space, another space, content-addressed, public. */
export function kindOf(soul: string, ownKey: string): 'mine' | 'space' | 'hash' | 'public' {
  if (soul === `~${ownKey}` || soul.startsWith(`~${ownKey}/`)) return 'mine';
  if (soul.startsWith('~')) return 'space';
  if (soul.startsWith('#')) return 'hash';
  return 'public';
}

/** Draws `model` into `svg` (replacing what was there); `open(soul)` on a click or Enter. */
export function drawGraph(svg: SVGSVGElement, model: GraphModel, ownKey: string, open: (soul: string) => void): void {
  const placed = layout(model);
  const xs = [...placed.values()].flatMap((p) => [p.x - p.r - 55, p.x + p.r + 55]);
  const ys = [...placed.values()].flatMap((p) => [p.y - p.r - 12, p.y + p.r + 28]);
  // At least a minimum extent, centred: one lone node is not drawn screen-high.
  const box = (values: number[], min: number): [number, number] => {
    const low = Math.min(...values);
    const high = Math.max(...values);
    const pad = Math.max(0, min - (high - low)) / 2;
    return [low - pad, high - low + 2 * pad];
  };
  const [minX, width] = box(xs, 420);
  const [minY, height] = box(ys, 240);
  svg.setAttribute('viewBox', `${minX.toFixed(0)} ${minY.toFixed(0)} ${width.toFixed(0)} ${height.toFixed(0)}`);
  svg.dataset['nodes'] = String(model.nodes.length);
  svg.dataset['edges'] = String(model.edges.length);
  svg.dataset['root'] = model.root;

  const defs = svgEl('defs');
  const marker = svgEl('marker', { id: 'graph-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svgEl('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow-head' }));
  defs.append(marker);

  const edgeLayer = svgEl('g', { class: 'edges' });
  const labelLayer = svgEl('g', { class: 'edge-labels' });
  const showEdgeLabels = model.edges.length <= 14;
  for (const edge of model.edges) {
    const a = placed.get(edge.from);
    const b = placed.get(edge.to);
    if (a === undefined || b === undefined) continue;
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const length = Math.hypot(dx, dy) || 1;
    // From circle edge to circle edge (the arrow head ends at the target's rim).
    const x1 = a.x + (dx / length) * a.r;
    const y1 = a.y + (dy / length) * a.r;
    const x2 = b.x - (dx / length) * (b.r + 2);
    const y2 = b.y - (dy / length) * (b.r + 2);
    const line = svgEl('line', { x1: x1.toFixed(1), y1: y1.toFixed(1), x2: x2.toFixed(1), y2: y2.toFixed(1), class: 'edge', 'marker-end': 'url(#graph-arrow)', 'data-testid': 'graph-edge', 'data-from': edge.from, 'data-to': edge.to, 'data-key': edge.key });
    line.append(svgEl('title', {}, `${edge.from} .${edge.key} → ${edge.to}`));
    edgeLayer.append(line);
    // Keys people chose ("profile", "b"); not the long generated keys of set() items.
    if (showEdgeLabels && edge.key.length <= 12 && edge.to !== model.root && edge.from === model.root) {
      // Beside the line, past its middle (clear of the open node's label below it).
      const nx = -dy / length;
      const ny = dx / length;
      const anchor = Math.abs(nx) > 0.5 ? (nx > 0 ? 'start' : 'end') : 'middle';
      const lx = x1 + 0.6 * (x2 - x1) + nx * 6;
      const ly = y1 + 0.6 * (y2 - y1) + ny * 6 + (ny > 0 ? 8 : -2);
      labelLayer.append(svgEl('text', { x: lx.toFixed(1), y: ly.toFixed(1), class: 'edge-label', 'text-anchor': anchor }, edge.key));
    }
  }

  const nodeLayer = svgEl('g', { class: 'nodes' });
  for (const { node, x, y, r } of placed.values()) {
    const current = node.depth === 0;
    const group = svgEl('g', {
      class: `node kind-${kindOf(node.soul, ownKey)}${current ? ' current' : ''}${node.depth === -1 ? ' came-from' : ''}${node.size === 0 ? ' unknown' : ''}`,
      transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})`,
      'data-testid': 'graph-node',
      'data-soul': node.soul,
      'data-depth': node.depth,
      role: current ? 'img' : 'button',
      tabindex: current ? -1 : 0,
      'aria-label': current ? `${node.soul} (open)` : `open ${node.soul}`,
    });
    group.append(
      svgEl('title', {}, `${node.soul}${node.size === 0 ? ' (nothing known yet)' : ` · ${node.size} propert${node.size === 1 ? 'y' : 'ies'}`}`),
      svgEl('circle', { r }),
      svgEl('text', { y: r + 13, 'text-anchor': 'middle', class: 'node-label' }, node.label),
    );
    if (!current) {
      group.addEventListener('click', () => open(node.soul));
      group.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          open(node.soul);
        }
      });
    }
    nodeLayer.append(group);
  }
  svg.replaceChildren(defs, edgeLayer, labelLayer, nodeLayer);
}
