/**
 * Keeps one `map()` subscriber up to date with a node's children: for each property
 * of the node, its value, or for a link the linked node's data. Delivers
 * `(value, key)` once per batch for each child that changed (its property, or any
 * property of the node it links to); a deleted child is delivered as `null`.
 */
import type { EngineChange } from './batch-report.js';
import type { LocalReplica } from './replica.js';
import { nodeData, resolve, sameWatches, type RefPath, type Resolution } from './resolve.js';
import type { ChangeWatcher, Watch } from './subscription-registry.js';
import { isLink, type NodeData, type Value } from './values.js';

export type ChildListener = (value: Value | NodeData, key: string) => void;

/** A child's value: a link stands for its node's data (empty when it has none yet). */
export function childValue(replica: LocalReplica, value: Value): Value | NodeData {
  return isLink(value) ? nodeData(replica.readNode(value['#'])) ?? {} : value;
}

/** The soul whose children a map() over `path` lists, if the path leads to a node. */
export function mapNodeSoul(resolution: Resolution): string | undefined {
  return resolution.kind === 'node' ? resolution.soul : undefined;
}

export class MapWatcher implements ChangeWatcher {
  readonly #replica: LocalReplica;
  readonly #path: RefPath;
  readonly #listener: ChildListener;
  #resolution: Resolution;
  /** key → soul of the child node it links to. */
  readonly #childOf = new Map<string, string>();
  /** child soul → keys linking to it (several keys may share a child). */
  readonly #keysOf = new Map<string, Set<string>>();
  #dirtyKeys = new Set<string>();
  #pathChanged = false;
  #active = true;
  /** Keys delivered by changes before the initial delivery ran. */
  #deliveredEarly: Set<string> | undefined = new Set();
  readonly #stopOnClose: () => void;

  constructor(replica: LocalReplica, path: RefPath, listener: ChildListener, onClose?: () => void) {
    this.#replica = replica;
    this.#path = path;
    this.#listener = listener;
    this.#resolution = resolve(replica.links, path);
    for (const watch of this.#resolution.watches) replica.subscriptions.add(watch, this);
    this.#stopOnClose = replica.onClose(() => {
      this.stop();
      onClose?.();
    });
    this.#indexChildren(false);
    queueMicrotask(() => {
      const early = this.#deliveredEarly;
      this.#deliveredEarly = undefined;
      if (this.#active) this.#deliverAll(early);
    });
  }

  note(change: EngineChange): void {
    const [soul, key] = change;
    if (soul === mapNodeSoul(this.#resolution)) this.#dirtyKeys.add(key);
    const keys = this.#keysOf.get(soul);
    if (keys !== undefined) for (const k of keys) this.#dirtyKeys.add(k);
    for (const watch of this.#resolution.watches) {
      if (watch.key !== undefined && watch.soul === soul && watch.key === key) this.#pathChanged = true;
    }
  }

  flush(): void {
    if (!this.#active) return;
    if (this.#pathChanged) {
      this.#pathChanged = false;
      const resolution = resolve(this.#replica.links, this.#path);
      if (!sameWatches(resolution.watches, this.#resolution.watches)) {
        for (const watch of this.#resolution.watches) this.#replica.subscriptions.remove(watch, this);
        this.#unwatchChildren();
        this.#resolution = resolution;
        for (const watch of resolution.watches) this.#replica.subscriptions.add(watch, this);
        this.#dirtyKeys = new Set();
        // A different node: every child it has is news to the subscriber.
        this.#indexChildren(true);
        this.#deliverAll(undefined);
        return;
      }
    }
    const dirty = this.#dirtyKeys;
    if (dirty.size === 0) return;
    this.#dirtyKeys = new Set();
    const soul = mapNodeSoul(this.#resolution);
    if (soul === undefined) return;
    const props = this.#replica.readNode(soul)?.props;
    for (const key of dirty) {
      const value = props?.[key]?.v;
      if (value === undefined) continue;
      this.#trackChild(key, value);
      this.#deliver(childValue(this.#replica, value), key);
    }
  }

  stop(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#stopOnClose();
    if (this.#replica.closed) return;
    for (const watch of this.#resolution.watches) this.#replica.subscriptions.remove(watch, this);
    this.#unwatchChildren();
  }

  #deliverAll(skip: ReadonlySet<string> | undefined): void {
    const soul = mapNodeSoul(this.#resolution);
    if (soul === undefined) return;
    const props = this.#replica.readNode(soul)?.props;
    for (const key in props) {
      const value = props[key]!.v;
      if (value === null || skip?.has(key)) continue;
      this.#deliver(childValue(this.#replica, value), key);
      if (!this.#active) return;
    }
  }

  #deliver(value: Value | NodeData, key: string): void {
    this.#deliveredEarly?.add(key);
    try {
      this.#listener(value, key);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  #indexChildren(reset: boolean): void {
    if (reset) this.#unwatchChildren();
    const soul = mapNodeSoul(this.#resolution);
    if (soul === undefined) return;
    const props = this.#replica.readNode(soul)?.props;
    for (const key in props) this.#trackChild(key, props[key]!.v);
  }

  /** Watches the node `key` links to now, and stops watching the one it linked to before. */
  #trackChild(key: string, value: Value): void {
    const previous = this.#childOf.get(key);
    const next = isLink(value) ? value['#'] : undefined;
    if (previous === next) return;
    if (previous !== undefined) {
      this.#childOf.delete(key);
      const keys = this.#keysOf.get(previous)!;
      keys.delete(key);
      if (keys.size === 0) {
        this.#keysOf.delete(previous);
        this.#unwatchChild(previous);
      }
    }
    if (next !== undefined) {
      this.#childOf.set(key, next);
      let keys = this.#keysOf.get(next);
      if (keys === undefined) {
        this.#keysOf.set(next, (keys = new Set()));
        this.#replica.subscriptions.add({ soul: next, key: undefined }, this);
      }
      keys.add(key);
    }
  }

  #unwatchChild(soul: string): void {
    // The map's own node may be its own child (a self-link): keep that watch.
    if (soul === mapNodeSoul(this.#resolution)) return;
    const watch: Watch = { soul, key: undefined };
    this.#replica.subscriptions.remove(watch, this);
  }

  #unwatchChildren(): void {
    for (const soul of this.#keysOf.keys()) this.#unwatchChild(soul);
    this.#childOf.clear();
    this.#keysOf.clear();
  }
}
