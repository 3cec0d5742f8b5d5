/**
 * Scratch apps for the documentation's examples: a temporary directory outside the
 * repository with a package.json and a node_modules in which `rustdht` (and, for the
 * browser app, `vite` and `vite-plugin-wasm`) are symlinks, so the examples' `import
 * 'rustdht'` resolves as it does in an app: through the package's own package.json
 * "exports" (the node condition → dist/node.js; the default one → dist/browser.js).
 *
 * Why a symlink to sdk-ts rather than the packed tarball: the packaging test
 * (test/package/) owns the tarball check (what `npm pack` ships, imports from the
 * unpacked copy) and rebuilds its scratch app on every run, so it is not a shared
 * install another test file, running in parallel, could use. What the symlink does not
 * catch, a file missing from the tarball, is exactly what that test checks; the exports
 * map, the built dist/ and pkg/, and the examples' code are the same either way. The
 * linked package finds its own dependencies through its real path (sdk-ts/node_modules,
 * then the workspace's node_modules), as an installed one finds them in the app's.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO } from './markdown.js';

export const SDK = join(REPO, 'sdk-ts');

export interface ScratchApp {
  readonly dir: string;
  /** Writes `content` to `name` (a path relative to the app). */
  write(name: string, content: string): Promise<void>;
  remove(): Promise<void>;
}

const PACKAGES: Readonly<Record<string, string>> = {
  rustdht: SDK,
  vite: join(REPO, 'node_modules', 'vite'),
  'vite-plugin-wasm': join(REPO, 'node_modules', 'vite-plugin-wasm'),
  typescript: join(REPO, 'node_modules', 'typescript'),
};

export async function scratchApp(prefix: string, packages: ReadonlyArray<keyof typeof PACKAGES> = ['rustdht']): Promise<ScratchApp> {
  const dir = await mkdtemp(join(tmpdir(), `rustdht-docs-${prefix}-`));
  await mkdir(join(dir, 'node_modules'));
  for (const name of packages) await symlink(PACKAGES[name]!, join(dir, 'node_modules', name), 'dir');
  await writeFile(join(dir, 'package.json'), `${JSON.stringify({ name: `docs-${prefix}`, private: true, type: 'module' }, null, 2)}\n`);
  return {
    dir,
    async write(name, content) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), content);
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node ...args` in `cwd` to completion (SIGKILLed after `timeoutMs`). */
export function runNode(cwd: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A failed run's output, for assertion messages. */
export function describeRun(what: string, result: RunResult): string {
  return `${what} exited ${String(result.code)}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
}
