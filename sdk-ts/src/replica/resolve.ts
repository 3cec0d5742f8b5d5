/**
 * Where a chained ref points. `db.get(root).get(k1)…get(kn)` names the property `kn`
 * of the node reached from `root` by following the links stored under k1…k(n-1);
 * when that property is itself a link, the ref stands for the linked node.
 *
 * A missing step resolves to nothing for reads; for writes it is created under the
 * derived soul `${parentSoul}/${key}` (the same soul a nested object would get), so a
 * chain written before it exists lands where a later read will look.
 */
import type { EngineNode } from '../engine/reports.js';
import type { Watch } from './subscription-registry.js';
import type { NodeData, ReadValue } from '../api/values.js';

/**
 * What resolving a path reads. The replica implements it; with a store it also notes
 * every soul read that is not loaded yet, so the operation can load it and run again.
 */
export interface GraphView {
  /** The soul `soul.key` links to, if it holds a link. */
  target(soul: string, key: string): string | undefined;
  /** With `keys`: only those properties (what a read of one property needs). */
  readNode(soul: string, keys?: ReadonlySet<string>): EngineNode | null;
}

export interface RefPath {
  readonly root: string;
  readonly keys: readonly string[];
}

/** What a path resolves to now, with every property the answer depends on. */
export type Resolution =
  | { readonly kind: 'node'; readonly soul: string; readonly linked: boolean; readonly watches: readonly Watch[] }
  | { readonly kind: 'property'; readonly soul: string; readonly key: string; readonly watches: readonly Watch[] }
  | { readonly kind: 'missing'; readonly watches: readonly Watch[] };

export function derivedSoul(parentSoul: string, key: string): string {
  return `${parentSoul}/${key}`;
}

export function resolve(graph: GraphView, path: RefPath): Resolution {
  const { root, keys } = path;
  const watches: Watch[] = [];
  let soul = root;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    watches.push({ soul, key });
    const target = graph.target(soul, key);
    if (target === undefined) {
      return i === keys.length - 1 ? { kind: 'property', soul, key, watches } : { kind: 'missing', watches };
    }
    soul = target;
  }
  watches.push({ soul, key: undefined });
  return { kind: 'node', soul, linked: keys.length > 0, watches };
}

/**
 * The soul a put into `path` writes to, appending to `flat` the links it must create
 * on the way. Every step but the last is a node; for `keys.length === 0`, the root.
 */
export function parentSoulForWrite(graph: GraphView, path: RefPath, flat: unknown[]): string {
  const { keys } = path;
  let soul = path.root;
  for (let i = 0; i < keys.length - 1; i++) soul = childSoulForWrite(graph, soul, keys[i]!, flat);
  return soul;
}

/** The node under `soul.key`: its current link target, or a new derived child linked now. */
export function childSoulForWrite(graph: GraphView, soul: string, key: string, flat: unknown[]): string {
  const linked = graph.target(soul, key);
  if (linked !== undefined) return linked;
  const child = derivedSoul(soul, key);
  flat.push(soul, key, { '#': child });
  return child;
}

/** The soul a link to `path` should point at (no writes: a later put derives the same soul). */
export function nodeSoulOf(graph: GraphView, path: RefPath): string {
  let soul = path.root;
  for (const key of path.keys) soul = graph.target(soul, key) ?? derivedSoul(soul, key);
  return soul;
}

export function nodeData(node: EngineNode | null): NodeData | undefined {
  if (node === null) return undefined;
  const data: NodeData = {};
  const props = node.props;
  for (const key in props) {
    const value = props[key]!.v;
    // Assigning "__proto__" would replace the prototype instead of adding a property.
    if (key === '__proto__') Object.defineProperty(data, key, { value, enumerable: true, writable: true, configurable: true });
    else data[key] = value;
  }
  return data;
}

/** The current value a resolution stands for; one engine read at most. */
export function readResolved(graph: GraphView, resolution: Resolution): ReadValue {
  switch (resolution.kind) {
    case 'missing':
      return undefined;
    case 'property':
      return graph.readNode(resolution.soul, new Set([resolution.key]))?.props[resolution.key]?.v;
    case 'node': {
      const data = nodeData(graph.readNode(resolution.soul));
      // A link is data: a linked node without properties yet reads as empty, not absent.
      return data ?? (resolution.linked ? {} : undefined);
    }
  }
}

export function sameWatches(a: readonly Watch[], b: readonly Watch[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.soul !== b[i]!.soul || a[i]!.key !== b[i]!.key) return false;
  return true;
}
