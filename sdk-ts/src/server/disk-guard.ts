/**
 * Disk headroom and the public space cap, for `rustdht serve`'s write gate
 * (network.writeGate, checked before a peer's PUT is applied):
 *
 * - while the file system holding the data directory has less than `minFreeBytes`
 *   available, every write is refused with `storage/full` — before LevelDB runs out of
 *   room mid-commit — and reads go on; it recovers by itself once room returns;
 * - once the store holds `maxStoreBytes` (when set), writes that touch public space are
 *   refused with `quota/public`; writes signed into owners' `~` spaces still pass.
 *
 * Both are sampled every SAMPLE_MS (statfs and the store's size), so the gate itself
 * costs nothing per write. /health reports the same conditions as reasons.
 */
import { statfs } from 'node:fs/promises';
import type { WriteGate } from '../network/types.js';
import type { HealthReason } from './health-checks.js';

const SAMPLE_MS = 2_000;
const MiB = 1024 * 1024;

export interface DiskGuardOptions {
  readonly dataDir: string;
  readonly minFreeBytes: number;
  readonly maxStoreBytes: number | undefined;
  /** The store's size on disk (cached by its caller). */
  readonly storeBytes: () => Promise<number>;
}

export class DiskGuard {
  readonly #options: DiskGuardOptions;
  readonly #timer: ReturnType<typeof setInterval>;
  #freeBytes = Infinity;
  #storeBytes = 0;

  constructor(options: DiskGuardOptions) {
    this.#options = options;
    this.#timer = setInterval(() => void this.sample(), SAMPLE_MS);
    this.#timer.unref();
  }

  /** Reads the free space and the store's size now (also done every SAMPLE_MS). */
  async sample(): Promise<void> {
    try {
      const stats = await statfs(this.#options.dataDir);
      this.#freeBytes = stats.bavail * stats.bsize;
    } catch {
      // Keep the last sample: a failed statfs says nothing about the disk.
    }
    try {
      this.#storeBytes = await this.#options.storeBytes();
    } catch {
      // Same.
    }
  }

  readonly gate: WriteGate = (write) => {
    const { minFreeBytes, maxStoreBytes } = this.#options;
    if (this.#freeBytes < minFreeBytes) {
      return { code: 'storage/full', message: `the server's disk is nearly full (${Math.round(this.#freeBytes / MiB)} MiB free, below its ${Math.round(minFreeBytes / MiB)} MiB minimum): writes are refused until there is room; reads go on.` };
    }
    if (maxStoreBytes !== undefined && this.#storeBytes >= maxStoreBytes && !write.ownedOnly()) {
      return { code: 'quota/public', message: `the server's store is at its cap (${Math.round(maxStoreBytes / MiB)} MiB): it takes no more public data; writes signed into an owner's ~ space still pass.` };
    }
    return undefined;
  };

  reasons(): HealthReason[] {
    const reasons: HealthReason[] = [];
    const { minFreeBytes, maxStoreBytes } = this.#options;
    if (this.#freeBytes < minFreeBytes) reasons.push({ code: 'storage/nearly-full', message: `${Math.round(this.#freeBytes / MiB)} MiB free on the data directory's disk, below the ${Math.round(minFreeBytes / MiB)} MiB minimum: writes are refused.` });
    if (maxStoreBytes !== undefined && this.#storeBytes >= maxStoreBytes) reasons.push({ code: 'quota/public', message: `the store holds ${Math.round(this.#storeBytes / MiB)} MiB, at its ${Math.round(maxStoreBytes / MiB)} MiB cap: public writes are refused.` });
    return reasons;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
