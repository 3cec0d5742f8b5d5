/**
 * The size on disk of the LevelDB store, for /health and the rustdht_store_bytes gauge.
 * LevelDB has no cheap exact "bytes used" call, and its files change under compaction,
 * so this sums the sizes of the files under the directory, recursively. A store holds
 * a few hundred files at most, but scrapes can come every second from several
 * scrapers: the result is cached for `ttlMs`, and concurrent callers share one walk.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

function vanished(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Bytes of the regular files under `path` (0 when it does not exist). Symlinks are not followed. */
export async function directoryBytes(path: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (error) {
    if (vanished(error)) return 0;
    throw error;
  }
  const sizes = await Promise.all(
    entries.map(async (entry) => {
      const child = join(path, entry.name);
      if (entry.isDirectory()) return directoryBytes(child);
      if (!entry.isFile()) return 0;
      try {
        return (await stat(child)).size;
      } catch (error) {
        // Compaction deletes files between readdir and stat: they no longer count.
        if (vanished(error)) return 0;
        throw error;
      }
    }),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

export interface DirectorySizerOptions {
  /** How long a result is reused (default 5000 ms). */
  readonly ttlMs?: number;
  readonly now?: () => number;
}

/** A function returning `directory`'s size in bytes, at most `ttlMs` old. */
export function directorySizer(directory: string, options: DirectorySizerOptions = {}): () => Promise<number> {
  const { ttlMs = 5000, now = Date.now } = options;
  let cached: { bytes: number; at: number } | undefined;
  let walking: Promise<number> | undefined;
  return () => {
    if (cached !== undefined && now() - cached.at < ttlMs) return Promise.resolve(cached.bytes);
    walking ??= directoryBytes(directory).then(
      (bytes) => {
        cached = { bytes, at: now() };
        walking = undefined;
        return bytes;
      },
      (error: unknown) => {
        // Not cached: the next scrape tries again.
        walking = undefined;
        throw error;
      },
    );
    return walking;
  };
}
