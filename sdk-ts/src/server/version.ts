/**
 * The package's version, read from its package.json at runtime so it cannot drift from
 * what npm published. This file sits two levels below the package root both as source
 * (src/server/) and compiled (dist/server/), so one relative URL serves both.
 */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const json = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof json.version === 'string' ? json.version : 'unknown';
  } catch {
    // A bundler may have moved this file away from package.json; a version is not worth failing over.
    return 'unknown';
  }
}

export const VERSION: string = readVersion();
