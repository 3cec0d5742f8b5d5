/**
 * Deferred updates (replica/deferred-updates.ts) on a scripted host and vitest's fake
 * clock (setTimeout and Date.now), so each retry's time can be asserted to the millisecond:
 *
 * - a tick whose souls cannot be loaded (the queued operation rejects, or throws at once)
 *   is tried again one second later, not sooner, and then applies; a tick that needs no
 *   load (the queued operation returns at once) is simply applied;
 * - a failure that lands after the replica closed schedules nothing; a wake-up after
 *   close, or after cancel(), does nothing; a tick that applied nothing is no batch;
 * - due updates whose commit fails are ingested again after 1 s, then 2 s, 4 s, …,
 *   doubling up to 60 s, until an ingest is taken; a replica closed meanwhile ingests
 *   nothing; without a store, the tick marks no soul for loading and keeps no frame;
 * - a layout-1 deferred frame is taken back: the souls it touches loaded first, the
 *   updates now due applied as a batch, the rest converted to records, the next due
 *   time scheduled.
 *
 * Why: deferred-updates-apply-when-due-and-retry.test.ts runs a whole replica on real
 * time, where a retry's delay is only seen as "eventually" (mutation testing:
 * scripts/mutation/README.md).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeferredUpdates, type DeferredHost } from '../../src/replica/deferred-updates.js';
import type { EngineChange } from '../../src/replica/batch-report.js';

const T0 = 1_000_000;
const CHANGE: EngineChange = ['soul', 'key', 1, T0, null] as unknown as EngineChange;

/** A host whose engine, operation queue, store backing and replica steps are scripted. */
class ScriptedHost {
  closedNow = false;
  /** When the engine's earliest deferred update is due (undefined: none). */
  nextDue: number | undefined;
  /** What engine.tick reports as applied. */
  dueChanges: EngineChange[] = [CHANGE];
  /** How the queued operation behaves at each call (after those: runs plan and apply at once). */
  readonly queueScript: ('reject' | 'throw' | 'reject-after-close' | 'close-before-apply')[] = [];
  /** How many afterBatch calls fail (their commit refused). */
  afterBatchFailures = 0;
  /** How many receive calls fail. */
  receiveFailures = 0;
  readonly queuedAt: number[] = [];
  readonly ticks: number[] = [];
  readonly used: string[] = [];
  readonly batches: (readonly EngineChange[])[] = [];
  readonly received: { at: number; frame: Uint8Array }[] = [];
  readonly staged: Uint8Array[][] = [];
  readonly calls: string[] = [];
  readonly frame = new Uint8Array([1, 2, 3]);
  readonly records = [new Uint8Array([9])];
  readonly withStore: boolean;

  constructor(withStore = true) {
    this.withStore = withStore;
  }

  readonly engine = {
    soulsDue: (now: number) => (this.calls.push(`soulsDue ${now - T0}`), ['soul']),
    tick: (now: number) => {
      this.ticks.push(now - T0);
      return JSON.stringify({ outcomes: [], changes: this.dueChanges });
    },
    nextDeferredAt: () => this.nextDue,
    lastDeferredRecords: () => this.records,
    lastChangesFrame: () => this.frame,
    soulsOf: (frame: Uint8Array) => (this.calls.push(`soulsOf ${frame.length}`), ['x', 'y']),
    restoreDeferred: (frame: Uint8Array, now: number) => (this.calls.push(`restoreDeferred ${frame.length} ${now - T0}`), JSON.stringify({ outcomes: [], changes: [CHANGE] })),
    deferredRecords: () => (this.calls.push('deferredRecords'), this.records),
  };

  readonly backing = {
    stageDeferred: (records: Uint8Array[]) => void this.staged.push(records),
    souls: {
      load: async (souls: string[]) => {
        this.calls.push(`load ${souls.join(',')}`);
        await Promise.resolve();
        this.calls.push('loaded');
      },
    },
    convertDeferredFrame: (records: Uint8Array[]) => void this.calls.push(`convert ${records.length}`),
  };

  host(): DeferredHost {
    return {
      engine: this.engine as unknown as DeferredHost['engine'],
      now: () => Date.now(),
      uses: (soul) => void this.used.push(soul),
      queued: <P, R>(plan: () => P, apply: (planned: P) => R): R | Promise<R> => {
        this.queuedAt.push(Date.now() - T0);
        const step = this.queueScript.shift();
        if (step === 'throw') throw new Error('the queue refused');
        const planned = plan();
        if (step === 'reject') return Promise.reject(new Error('the store refuses reads'));
        if (step === 'close-before-apply') this.closedNow = true;
        if (step === 'reject-after-close') {
          this.closedNow = true;
          return Promise.reject(new Error('closed while loading'));
        }
        return apply(planned);
      },
      backing: (this.withStore ? this.backing : undefined) as unknown as DeferredHost['backing'],
      closed: () => this.closedNow,
      freed: () => false,
      afterBatch: async (changes) => {
        this.batches.push(changes);
        this.calls.push('afterBatch');
        if (this.afterBatchFailures > 0) {
          this.afterBatchFailures--;
          throw new Error('the commit failed');
        }
      },
      receive: async (frame) => {
        this.received.push({ at: Date.now() - T0, frame });
        if (this.receiveFailures > 0) {
          this.receiveFailures--;
          throw new Error('the commit failed again');
        }
        return undefined;
      },
    };
  }
}

/** A host, its DeferredUpdates, and the first wake-up scheduled `dueIn` ms from now. */
function start(dueIn: number, setup: (host: ScriptedHost) => void = () => {}, withStore = true) {
  const scripted = new ScriptedHost(withStore);
  setup(scripted);
  const deferred = new DeferredUpdates(scripted.host());
  scripted.nextDue = T0 + dueIn;
  deferred.changed();
  // Once the first tick ran, nothing more is deferred (unless a test says otherwise).
  scripted.nextDue = undefined;
  return { scripted, deferred };
}

/** Advances the fake clock by `ms`, running the promise callbacks between timers. */
const advance = (ms: number): Promise<void> => vi.advanceTimersByTimeAsync(ms).then(() => undefined);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('a tick whose souls cannot be loaded', () => {
  it('the queued operation rejects (a store refusing reads): tried again 1 s later, not sooner, then applied', async () => {
    const { scripted } = start(100, (s) => s.queueScript.push('reject'));
    await advance(100);
    expect(scripted.queuedAt).toEqual([100]);
    expect(scripted.used).toEqual(['soul']);
    expect(scripted.ticks).toEqual([]);
    await advance(999);
    expect(scripted.queuedAt).toEqual([100]);
    await advance(1);
    expect(scripted.queuedAt).toEqual([100, 1100]);
    // Applied at the retry's own time; nothing deferred is left, so nothing more is scheduled.
    expect(scripted.ticks).toEqual([1100]);
    expect(scripted.batches).toEqual([[CHANGE]]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('the queued operation throws at once: tried again 1 s later as well', async () => {
    const { scripted } = start(50, (s) => s.queueScript.push('throw'));
    await advance(50);
    expect(scripted.queuedAt).toEqual([50]);
    await advance(999);
    expect(scripted.queuedAt).toEqual([50]);
    await advance(1);
    expect(scripted.queuedAt).toEqual([50, 1050]);
    expect(scripted.ticks).toEqual([1050]);
  });

  it('failing again and again: tried every second until it loads', async () => {
    const { scripted } = start(10, (s) => s.queueScript.push('reject', 'reject', 'throw'));
    await advance(10 + 3000);
    expect(scripted.queuedAt).toEqual([10, 1010, 2010, 3010]);
    expect(scripted.ticks).toEqual([3010]);
  });

  it('a tick that needs no load (the queued operation returns at once) just applies, nothing retried', async () => {
    const { scripted } = start(20);
    await advance(20);
    expect(scripted.queuedAt).toEqual([20]);
    expect(scripted.ticks).toEqual([20]);
    expect(scripted.staged).toEqual([scripted.records, scripted.records]);
    await advance(5000);
    expect(scripted.queuedAt).toEqual([20]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a load that fails after the replica closed: nothing is scheduled, nothing tried again', async () => {
    const { scripted } = start(100, (s) => s.queueScript.push('reject-after-close'));
    await advance(100);
    expect(scripted.queuedAt).toEqual([100]);
    expect(vi.getTimerCount()).toBe(0);
    await advance(5000);
    expect(scripted.queuedAt).toEqual([100]);
  });
});

describe('when nothing is to be done', () => {
  it('cancel(): the wake-up is disarmed, no tick comes', async () => {
    const { scripted, deferred } = start(100);
    deferred.cancel();
    expect(vi.getTimerCount()).toBe(0);
    await advance(5000);
    expect(scripted.queuedAt).toEqual([]);
  });

  it('a wake-up after the replica closed queues nothing', async () => {
    const { scripted } = start(100);
    scripted.closedNow = true;
    await advance(100);
    expect(scripted.queuedAt).toEqual([]);
    expect(scripted.ticks).toEqual([]);
  });

  it('the replica closed while the tick waited in the queue: the engine (maybe freed by then) is not ticked', async () => {
    const { scripted } = start(100, (s) => s.queueScript.push('close-before-apply'));
    await advance(100);
    expect(scripted.queuedAt).toEqual([100]);
    expect(scripted.ticks).toEqual([]);
    expect(scripted.batches).toEqual([]);
  });

  it('a tick that applied nothing is no batch: the replica steps are not run', async () => {
    const { scripted } = start(100, (s) => (s.dueChanges = []));
    await advance(100);
    expect(scripted.ticks).toEqual([100]);
    expect(scripted.batches).toEqual([]);
  });
});

describe('due updates whose commit fails', () => {
  it('are ingested again (the same frame) after 1 s, then 2 s, then 4 s, until an ingest is taken', async () => {
    const { scripted } = start(0, (s) => {
      s.afterBatchFailures = 1;
      s.receiveFailures = 2;
    });
    await advance(0);
    expect(scripted.ticks).toEqual([0]);
    expect(scripted.received).toEqual([]);
    await advance(999);
    expect(scripted.received).toEqual([]);
    await advance(1);
    expect(scripted.received.map((r) => r.at)).toEqual([1000]);
    expect(scripted.received[0]!.frame).toBe(scripted.frame);
    await advance(1999);
    expect(scripted.received.map((r) => r.at)).toEqual([1000]);
    await advance(1);
    expect(scripted.received.map((r) => r.at)).toEqual([1000, 3000]);
    await advance(3999);
    expect(scripted.received.map((r) => r.at)).toEqual([1000, 3000]);
    await advance(1);
    expect(scripted.received.map((r) => r.at)).toEqual([1000, 3000, 7000]);
    // The third was taken: no more.
    expect(vi.getTimerCount()).toBe(0);
    await advance(120_000);
    expect(scripted.received).toHaveLength(3);
  });

  it('the wait doubles up to 60 s and stays there', async () => {
    const { scripted } = start(0, (s) => {
      s.afterBatchFailures = 1;
      s.receiveFailures = 8;
    });
    await advance(0);
    for (let i = 0; i < 9; i++) await advance(60_000);
    const at = scripted.received.map((r) => r.at);
    const waits = at.map((t, i) => t - (i === 0 ? 0 : at[i - 1]!));
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a replica closed before the next ingest ingests nothing', async () => {
    const { scripted } = start(0, (s) => {
      s.afterBatchFailures = 1;
    });
    await advance(0);
    expect(scripted.batches).toHaveLength(1);
    scripted.closedNow = true;
    await advance(5000);
    expect(scripted.received).toEqual([]);
  });

  it('without a store: no soul is marked for loading, and no frame is kept for an ingest (were afterBatch to fail, which it cannot without one)', async () => {
    const { scripted } = start(
      0,
      (s) => {
        s.afterBatchFailures = 1;
      },
      false,
    );
    await advance(0);
    expect(scripted.ticks).toEqual([0]);
    expect(scripted.used).toEqual([]);
    await advance(5000);
    expect(scripted.received).toEqual([]);
  });
});

describe('a layout-1 deferred frame', () => {
  it('loads the souls it touches, applies the updates now due, converts the rest to records, and schedules the next', async () => {
    const scripted = new ScriptedHost();
    const deferred = new DeferredUpdates(scripted.host());
    scripted.nextDue = T0 + 500;
    const stored = new Uint8Array(7);
    await deferred.reinstateFrame(stored);
    expect(scripted.calls).toEqual(['soulsOf 7', 'load x,y', 'loaded', 'restoreDeferred 7 0', 'afterBatch', 'deferredRecords', 'convert 1']);
    expect(scripted.batches).toEqual([[CHANGE]]);
    scripted.nextDue = undefined;
    await advance(499);
    expect(scripted.ticks).toEqual([]);
    await advance(1);
    expect(scripted.ticks).toEqual([500]);
  });
});
