/**
 * Every module the browser entry (src/browser.ts) reaches, by its value imports, runs in
 * a page: none may call a global only Node has. The Node tests cannot catch one (the
 * global exists there), and a page then fails at the first use — as StreamChannel did
 * when it joined sends with `setImmediate` (util/macrotask.ts `afterMicrotasks` is the
 * portable way). Read from the sources: comments and string literals are left out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const VALUE_IMPORT = /^\s*(?:import|export)\s(?!type\s)[^'";]*?['"](\.[^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g;
const NODE_ONLY = /\b(?:setImmediate|clearImmediate)\s*\(|\bBuffer\s*\.|\bprocess\s*\.|\brequire\s*\(|\b__dirname\b/;

/** The modules `entry` reaches through value and dynamic imports (type-only imports are erased). */
function reachable(entry: string): string[] {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length !== 0) {
    const file = stack.pop()!;
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const match of [...text.matchAll(VALUE_IMPORT), ...text.matchAll(DYNAMIC_IMPORT)]) stack.push(resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts')));
  }
  return [...seen];
}

/** The code of `file` without comments and string literals. */
function codeOf(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1')
    .replace(/'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`/g, "''");
}

it('the modules the browser entry reaches call no Node-only global', () => {
  const modules = reachable(join(SRC, 'browser.ts'));
  expect(modules.length).toBeGreaterThan(50);
  expect(modules).toContain(join(SRC, 'network', 'libp2p', 'stream-channel.ts'));
  const found = modules.flatMap((file) =>
    codeOf(file)
      .split('\n')
      .flatMap((line, i) => (NODE_ONLY.test(line) ? [`${relative(SRC, file)}:${i + 1}: ${line.trim()}`] : [])),
  );
  expect(found).toEqual([]);
});
