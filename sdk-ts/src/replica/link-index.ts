/**
 * Which properties currently hold links, mirrored from the engine's change reports.
 *
 * Chained refs (`db.get('post').get('author').get('name')`) resolve through links on
 * every put; asking the engine for a whole node per hop would make a put cost the size
 * of its parent node. The engine stays the only authority: this index only records
 * the outcome of merges it reported, in the order it reported them, and every change
 * the engine makes reaches the shell as a report (writes, ingests and ticks alike).
 */
import type { EngineChange } from './batch-report.js';
import type { EngineNode } from '../engine/reports.js';
import { isLink, type Link } from '../api/values.js';

export class LinkIndex {
  readonly #targets = new Map<string, Map<string, string>>();

  /** The soul that `soul.key` links to, if it holds a link. */
  target(soul: string, key: string): string | undefined {
    return this.#targets.get(soul)?.get(key);
  }

  /** Indexes a whole node as the engine holds it (after a restore, which reports no changes). */
  indexNode(soul: string, node: EngineNode | null): void {
    this.#targets.delete(soul);
    if (node === null) return;
    let links: Map<string, string> | undefined;
    for (const key in node.props) {
      const value = node.props[key]!.v;
      if (isLink(value)) (links ??= new Map()).set(key, value['#']);
    }
    if (links !== undefined) this.#targets.set(soul, links);
  }

  apply(changes: readonly EngineChange[]): void {
    const targets = this.#targets;
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i]!;
      const value = change[2];
      if (value !== null && typeof value === 'object') {
        let node = targets.get(change[0]);
        if (node === undefined) targets.set(change[0], (node = new Map()));
        node.set(change[1], (value as Link)['#']);
      } else if (targets.size !== 0) {
        const node = targets.get(change[0]);
        if (node !== undefined && node.delete(change[1]) && node.size === 0) targets.delete(change[0]);
      }
    }
  }
}
