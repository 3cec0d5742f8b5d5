/**
 * The docs' relative links lead somewhere: every `[text](path)` and `[text](path#heading)`
 * in docs/*.md names a file of the repository, and a heading that exists in it; none
 * points outside the repository.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { docFiles, REPO } from './markdown.js';

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^(`{3,}|~{3,})/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6} (.*)$/.exec(line);
    if (heading !== null) anchors.add(slug(heading[1]!));
  }
  return anchors;
}

/** Links outside code: fenced blocks and inline code spans are not markdown. */
function linksOf(file: string): Array<{ line: number; target: string }> {
  const links: Array<{ line: number; target: string }> = [];
  let fenced = false;
  readFileSync(file, 'utf8').split('\n').forEach((text, index) => {
    if (/^(`{3,}|~{3,})/.test(text)) fenced = !fenced;
    if (fenced) return;
    const prose = text.replace(/``.*?``|`[^`]*`/g, '');
    for (const match of prose.matchAll(/\]\(([^()\s]+)\)/g)) links.push({ line: index + 1, target: match[1]! });
  });
  return links;
}

it('every relative link in docs/ resolves to a file (and heading) inside the repository', () => {
  const problems: string[] = [];
  let checked = 0;
  for (const file of docFiles()) {
    const where = relative(REPO, file);
    for (const { line, target } of linksOf(file)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      checked++;
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const destination = path === '' ? file : resolve(dirname(file), path);
      if (relative(REPO, destination).startsWith('..')) {
        problems.push(`${where}:${line}: ${target} points outside the repository`);
      } else if (!existsSync(destination)) {
        problems.push(`${where}:${line}: ${target}: no such file`);
      } else if (anchor !== undefined && statSync(destination).isFile() && destination.endsWith('.md') && !anchorsOf(destination).has(anchor)) {
        problems.push(`${where}:${line}: ${target}: no heading #${anchor} in ${relative(REPO, destination)}`);
      }
    }
  }
  expect(problems).toEqual([]);
  expect(checked).toBeGreaterThan(5);
});

it('no doc names a path outside the repository', () => {
  for (const file of docFiles()) {
    const text = readFileSync(file, 'utf8');
    expect(text, relative(REPO, file)).not.toMatch(/\.\.\/shared\/|\/work\/|\/root\//);
  }
});
