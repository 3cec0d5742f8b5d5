/**
 * Local writes waiting for a durability level (`put(value, { durability })`), by outbox
 * entry: the outbox sender asks which level a PUT must request (the highest among its
 * entries: PUT_AT) and hands back what the server reported (ACK_AT); the first report
 * for an entry settles its wait (api/durability.ts judges it against the level).
 */
import type { ReplicationReport, ReplicationWaits } from '../../replica/types.js';
import type { ReplicationLevel } from '../wire/messages.js';

const RANK: Readonly<Record<ReplicationLevel, number>> = { one: 1, quorum: 2, all: 3 };

interface Waiter {
  readonly level: ReplicationLevel;
  readonly resolve: (report: ReplicationReport) => void;
}

export class ReplicationWaitList {
  readonly #waiters = new Map<number, Waiter[]>();

  /** Starts a wait for entry `id` (what replica.useReplication registers). */
  readonly expect: ReplicationWaits = (id, level) => {
    let waiter!: Waiter;
    const result = new Promise<ReplicationReport>((resolve) => (waiter = { level, resolve }));
    const list = this.#waiters.get(id) ?? [];
    list.push(waiter);
    this.#waiters.set(id, list);
    return {
      result,
      cancel: () => {
        const current = this.#waiters.get(id);
        if (current === undefined) return;
        const left = current.filter((w) => w !== waiter);
        if (left.length === 0) this.#waiters.delete(id);
        else this.#waiters.set(id, left);
      },
    };
  };

  /** The highest level any of these entries waits for, if any. */
  levelOf(ids: readonly number[]): ReplicationLevel | undefined {
    let best: ReplicationLevel | undefined;
    for (const id of ids) {
      for (const waiter of this.#waiters.get(id) ?? []) if (best === undefined || RANK[waiter.level] > RANK[best]) best = waiter.level;
    }
    return best;
  }

  /** A server's report of these entries: settles their waits. */
  report(ids: readonly number[], report: ReplicationReport): void {
    for (const id of ids) {
      const list = this.#waiters.get(id);
      if (list === undefined) continue;
      this.#waiters.delete(id);
      for (const waiter of list) waiter.resolve(report);
    }
  }
}
