// A source file stays under about 400 lines, or says in its header comment why it is
// longer (issue 10: a newcomer finds the room for a change from the folder tree, and a
// long file is a choice someone explained, not an accident).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const LIMIT = 400;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

it(`every sdk-ts/src file over ${LIMIT} lines gives the reason in its header comment`, () => {
  const unexplained: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n').length;
    if (lines <= LIMIT) continue;
    // The first comment block of the file (its header), wherever imports begin.
    const header = /^(?:\/\*\*?[\s\S]*?\*\/|(?:\/\/[^\n]*\n)+)/.exec(text)?.[0] ?? '';
    if (!/\b400 lines\b/.test(header)) unexplained.push(`${relative(SRC, file)} (${lines} lines)`);
  }
  expect(unexplained).toEqual([]);
});
