/**
 * Shares the replica between the peers a server answers, fairly by bytes. Every request
 * that makes the replica work (a PUT's merge and commit, a GET's read) enters here first;
 * at most `concurrency` run at once, and the next to run is the one with the smallest
 * *start tag* (start-time fair queueing): a peer's request starts at the later of the
 * virtual time (the start tag of the request last let in) and the finish tag of its own
 * previous request, and finishes `cost` later. So a peer that sends little — an honest
 * client putting a node every 100 ms — enters at the virtual time and goes before every
 * request a flooding peer has queued (those start after each other's finish tags), and
 * waits only for the requests already running; a peer alone gets all of it.
 *
 * Without it the replica served requests in arrival order (replica/operation-queue.ts
 * keeps call order), so an honest PUT waited behind everything the floods had queued:
 * in the soak, stretches of 0.5–0.9 s without one idle moment.
 *
 * One peer's requests still run in the order they came (their tags only grow).
 *
 * A request may give its slot back before it ends (`release`, passed to its work): a PUT
 * does once its merge is staged, and only waits for the commit after that. Holding the
 * slot through the commit kept all four slots on writes waiting for the disk, and an
 * honest request that was first in line waited for a commit before it could even start
 * (44–53 ms in the soak's worst puts). Its peer's count (below) still holds until it ends,
 * so a flooding peer has no more writes in flight than before.
 *
 * And one peer has at most MAX_ACTIVE_PER_PEER requests running or in line for a slot;
 * the rest wait in its own backlog, behind them. Otherwise a flooding peer held every
 * slot, and a newcomer, though first in line, waited for one of them to finish (a large
 * PUT's merge and commit: tens of milliseconds).
 */

/** Peers whose finish tags are kept at most (the least recently active are forgotten first). */
const MAX_TRACKED_PEERS = 10_000;

/** Requests of one peer running or in line for a slot at most (see above). */
export const MAX_ACTIVE_PER_PEER = 2;

interface Waiting {
  readonly start: number;
  /** Arrival order among equal tags. */
  readonly seq: number;
  readonly run: () => void;
}

export class FairQueue {
  readonly #concurrency: number;
  #running = 0;
  #virtual = 0;
  #seq = 0;
  /** Each peer's latest finish tag. */
  readonly #finish = new Map<string, number>();
  /** A binary min-heap on (start, seq). */
  readonly #heap: Waiting[] = [];
  /** Per peer with requests here: how many are running or in the heap, and the rest, in order. */
  readonly #active = new Map<string, { count: number; readonly backlog: Waiting[] }>();
  #backlogged = 0;

  constructor(concurrency: number) {
    this.#concurrency = concurrency;
  }

  /** Requests waiting for their turn (in line, or behind their peer's others). */
  get waiting(): number {
    return this.#heap.length + this.#backlogged;
  }

  /**
   * Runs `work` in `peerId`'s turn; `cost` is its size (bytes, or a fixed weight for a
   * read). `work` may call `release` to give its slot to the next in line before it ends.
   */
  async run<T>(peerId: string, cost: number, work: (release: () => void) => Promise<T>): Promise<T> {
    const start = Math.max(this.#virtual, this.#finish.get(peerId) ?? 0);
    this.#remember(peerId, start + Math.max(1, cost));
    let peer = this.#active.get(peerId);
    if (peer === undefined) this.#active.set(peerId, (peer = { count: 0, backlog: [] }));
    if (peer.count >= MAX_ACTIVE_PER_PEER) {
      this.#backlogged++;
      await new Promise<void>((run) => peer.backlog.push({ start, seq: this.#seq++, run }));
    } else {
      peer.count++;
      if (this.#running < this.#concurrency && this.#heap.length === 0) {
        this.#virtual = start;
        this.#running++;
      } else {
        await new Promise<void>((run) => this.#push({ start, seq: this.#seq++, run }));
      }
    }
    let holding = true;
    const release = (): void => {
      if (!holding) return;
      holding = false;
      this.#running--;
      this.#next();
    };
    try {
      return await work(release);
    } finally {
      if (holding) {
        holding = false;
        this.#running--;
      }
      // The peer's next request takes this one's place in line (its count stays).
      const next = peer.backlog.shift();
      if (next !== undefined) {
        this.#backlogged--;
        this.#push(next);
      }
      else if (--peer.count === 0) this.#active.delete(peerId);
      this.#next();
    }
  }

  #next(): void {
    while (this.#running < this.#concurrency && this.#heap.length !== 0) {
      const first = this.#pop();
      this.#virtual = Math.max(this.#virtual, first.start);
      this.#running++;
      first.run();
    }
  }

  #remember(peerId: string, finish: number): void {
    this.#finish.delete(peerId);
    this.#finish.set(peerId, finish);
    if (this.#finish.size <= MAX_TRACKED_PEERS) return;
    // The least recently active go first: such a peer starts again at the virtual time, as a new one does.
    for (const peer of this.#finish.keys()) {
      if (this.#finish.size <= MAX_TRACKED_PEERS / 2) break;
      this.#finish.delete(peer);
    }
  }

  #push(item: Waiting): void {
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): Waiting {
    const heap = this.#heap;
    const first = heap[0]!;
    const last = heap.pop()!;
    if (heap.length !== 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < heap.length && before(heap[left]!, heap[least]!)) least = left;
        if (right < heap.length && before(heap[right]!, heap[least]!)) least = right;
        if (least === i) break;
        [heap[i], heap[least]] = [heap[least]!, heap[i]!];
        i = least;
      }
    }
    return first;
  }
}

function before(a: Waiting, b: Waiting): boolean {
  return a.start < b.start || (a.start === b.start && a.seq < b.seq);
}
