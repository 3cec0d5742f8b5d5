/**
 * Keeps one `map()` subscriber up to date with a node's children: for each property
 * of the node, its value, or for a link the linked node's data. Delivers
 * `(value, key)` once per batch for each child that changed (its property, or any
 * property of the node it links to); a deleted child is delivered as `null`.
 *
 * Each delivery is computed by a plan (see LocalReplica.whenResident): with a store,
 * children linked to nodes that are not loaded yet are delivered once they are, and
 * changes that arrive meanwhile are folded into that delivery.
 */
import { SerialRefresh } from './serial-refresh.js';
import type { EngineChange } from './batch-report.js';
import type { EngineNode } from '../engine/reports.js';
import type { LocalReplica } from './replica.js';
import { nodeData, resolve, sameWatches, type GraphView, type RefPath, type Resolution } from './resolve.js';
import type { ChangeWatcher, Watch } from './subscription-registry.js';
import { isLink, type NodeData, type Value } from '../api/values.js';
import { reportListenerError } from '../util/listeners.js';

export type ChildListener = (value: Value | NodeData, key: string) => void;

/** A child's value: a link stands for its node's data (empty when it has none yet). */
export function childValue(graph: GraphView, value: Value): Value | NodeData {
  return isLink(value) ? nodeData(graph.readNode(value['#'])) ?? {} : value;
}

/** The soul whose children a map() over `path` lists, if the path leads to a node. */
export function mapNodeSoul(resolution: Resolution): string | undefined {
  return resolution.kind === 'node' ? resolution.soul : undefined;
}

/** What one delivery needs, read in one plan. */
interface Snapshot {
  readonly resolution: Resolution;
  /** The resolution watches other things than before: every child is news. */
  readonly moved: boolean;
  readonly props: EngineNode['props'] | undefined;
  /** [key, raw value, delivered value] for each child to deliver. */
  readonly children: ReadonlyArray<readonly [string, Value, Value | NodeData]>;
}

export class MapWatcher implements ChangeWatcher {
  readonly #replica: LocalReplica;
  readonly #path: RefPath;
  readonly #listener: ChildListener;
  #resolution: Resolution | undefined;
  /** key → soul of the child node it links to. */
  readonly #childOf = new Map<string, string>();
  /** child soul → keys linking to it (several keys may share a child). */
  readonly #keysOf = new Map<string, Set<string>>();
  #dirtyKeys = new Set<string>();
  #pathChanged = false;
  #active = true;
  readonly #refresh = new SerialRefresh(() => this.flush(), (error: unknown) => this.#fail(error));
  /** Keys delivered by changes before the initial delivery ran. */
  #deliveredEarly: Set<string> | undefined = new Set();
  readonly #stopOnClose: () => void;

  constructor(replica: LocalReplica, path: RefPath, listener: ChildListener, onClose?: () => void) {
    this.#replica = replica;
    this.#path = path;
    this.#listener = listener;
    this.#stopOnClose = replica.onClose(() => {
      this.stop();
      onClose?.();
    });
    const started = replica.queued(
      () => this.#snapshot(true, undefined),
      (snapshot) => this.#start(snapshot),
    );
    if (started instanceof Promise) started.catch((error: unknown) => this.#fail(error));
  }

  note(change: EngineChange): void {
    const [soul, key] = change;
    const resolution = this.#resolution!;
    if (soul === mapNodeSoul(resolution)) this.#dirtyKeys.add(key);
    const keys = this.#keysOf.get(soul);
    if (keys !== undefined) for (const k of keys) this.#dirtyKeys.add(k);
    for (const watch of resolution.watches) {
      if (watch.key !== undefined && watch.soul === soul && watch.key === key) this.#pathChanged = true;
    }
  }

  flush(): void {
    if (!this.#active || this.#refresh.busy()) return;
    if (!this.#pathChanged && this.#dirtyKeys.size === 0) return;
    const reresolve = this.#pathChanged;
    const dirty = this.#dirtyKeys;
    this.#pathChanged = false;
    this.#dirtyKeys = new Set();
    this.#refresh.track(
      this.#replica.whenResident(
        () => this.#snapshot(reresolve, dirty),
        (snapshot) => this.#show(snapshot),
      ),
    );
  }

  stop(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#stopOnClose();
    if (this.#replica.closed || this.#resolution === undefined) return;
    for (const watch of this.#resolution.watches) this.#replica.subscriptions.remove(watch, this);
    this.#unwatchChildren();
  }

  /**
   * Reads what a delivery needs: the path (again when `reresolve`), the node, and the
   * value of each child in `keys` (every present child when undefined or when the
   * path now leads elsewhere).
   */
  #snapshot(reresolve: boolean, keys: ReadonlySet<string> | undefined): Snapshot {
    const replica = this.#replica;
    const current = this.#resolution;
    const resolution = reresolve || current === undefined ? resolve(replica, this.#path) : current;
    const moved = current === undefined || !sameWatches(resolution.watches, current.watches);
    const soul = mapNodeSoul(resolution);
    // A batch that changed a few children reads only those (a large node is not parsed again).
    const onlyKeys = moved || keys === undefined ? undefined : keys;
    const props = soul === undefined ? undefined : replica.readNode(soul, onlyKeys)?.props;
    const children: Array<readonly [string, Value, Value | NodeData]> = [];
    if (moved || keys === undefined) {
      for (const key in props) {
        const value = props[key]!.v;
        if (value !== null) children.push([key, value, childValue(replica, value)]);
      }
    } else {
      for (const key of keys) {
        const value = props?.[key]?.v;
        if (value !== undefined) children.push([key, value, childValue(replica, value)]);
      }
    }
    return { resolution, moved, props, children };
  }

  #start(snapshot: Snapshot): void {
    if (!this.#active) return;
    this.#adopt(snapshot);
    queueMicrotask(() => {
      const early = this.#deliveredEarly;
      this.#deliveredEarly = undefined;
      if (!this.#active) return;
      for (const [key, , value] of snapshot.children) {
        if (early?.has(key)) continue;
        this.#deliver(value, key);
        if (!this.#active) return;
      }
    });
  }

  #show(snapshot: Snapshot): void {
    if (!this.#active) return;
    if (snapshot.moved) this.#adopt(snapshot);
    else for (const [key, value] of snapshot.children) this.#trackChild(key, value);
    for (const [key, , value] of snapshot.children) {
      this.#deliver(value, key);
      if (!this.#active) return;
    }
  }

  /** Watches the snapshot's path and node, and the children its node links to now. */
  #adopt(snapshot: Snapshot): void {
    const subscriptions = this.#replica.subscriptions;
    const previous = this.#resolution;
    if (previous !== undefined) {
      for (const watch of previous.watches) subscriptions.remove(watch, this);
      this.#unwatchChildren();
    }
    this.#resolution = snapshot.resolution;
    for (const watch of snapshot.resolution.watches) subscriptions.add(watch, this);
    for (const key in snapshot.props) this.#trackChild(key, snapshot.props[key]!.v);
  }

  #deliver(value: Value | NodeData, key: string): void {
    this.#deliveredEarly?.add(key);
    try {
      this.#listener(value, key);
    } catch (error) {
      reportListenerError(error);
    }
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
    if (this.#resolution !== undefined && soul === mapNodeSoul(this.#resolution)) return;
    const watch: Watch = { soul, key: undefined };
    this.#replica.subscriptions.remove(watch, this);
  }

  #unwatchChildren(): void {
    for (const soul of this.#keysOf.keys()) this.#unwatchChild(soul);
    this.#childOf.clear();
    this.#keysOf.clear();
  }

  #fail(error: unknown): void {
    if (!this.#active || this.#replica.closed) return;
    reportListenerError(error);
  }
}
