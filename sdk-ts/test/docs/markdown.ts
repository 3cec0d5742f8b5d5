/**
 * The user documentation (docs/*.md) as its tests read it: fenced code blocks with their
 * file names and markers, the `rustdht …` command lines in them, and the output a page
 * says a command prints. The conventions (docs/README.md states them for writers):
 *
 * - A block whose info string has `title="NAME"` is a file (```js title="hello.mjs"):
 *   the tests write it as NAME and run or type-check it.
 * - `<!-- doc-test: NAME -->` on the line before a block names it for a test.
 * - Every command in a `sh` block that starts with `rustdht` or `npx rustdht` must be
 *   accepted by the CLI's parser; a `node FILE` line followed by `# …` lines states
 *   the output of that run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DOCS = join(REPO, 'docs');

export interface CodeBlock {
  /** The document, relative to the repository root (for messages). */
  readonly doc: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly lang: string;
  /** `title="…"` of the info string: the block is this file. */
  readonly title: string | undefined;
  /** The `<!-- doc-test: NAME -->` before the block. */
  readonly marker: string | undefined;
  readonly code: string;
}

/** The user docs: every *.md under docs/ except the generated API reference. */
export function docFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (path !== join(DOCS, 'api')) walk(path);
      } else if (entry.name.endsWith('.md')) {
        found.push(path);
      }
    }
  };
  walk(DOCS);
  return found.sort();
}

export function codeBlocks(file: string): CodeBlock[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  let previous = '';
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,}|~{3,})(.*)$/.exec(lines[i]!);
    if (open === null) {
      if (lines[i]!.trim() !== '') previous = lines[i]!;
      continue;
    }
    const fence = open[1]!;
    const info = open[2]!.trim();
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !(lines[j]!.startsWith(fence) && lines[j]!.slice(fence.length).trim() === '')) body.push(lines[j++]!);
    if (j === lines.length) throw new Error(`${relative(REPO, file)}:${i + 1}: code block never closed`);
    blocks.push({
      doc: relative(REPO, file),
      line: i + 1,
      lang: info.split(/\s+/)[0] ?? '',
      title: /\btitle="([^"]+)"/.exec(info)?.[1],
      marker: /^<!--\s*doc-test:\s*([\w-]+)\s*-->$/.exec(previous.trim())?.[1],
      code: body.length === 0 ? '' : `${body.join('\n')}\n`,
    });
    previous = '';
    i = j;
  }
  return blocks;
}

/** The block that is the file `title` in `doc` (a name under docs/). */
export function fileBlock(doc: string, title: string): CodeBlock {
  const block = codeBlocks(join(DOCS, doc)).find((b) => b.title === title);
  if (block === undefined) throw new Error(`docs/${doc} has no code block with title="${title}"`);
  return block;
}

/** The block after `<!-- doc-test: marker -->` in `doc`. */
export function markedBlock(doc: string, marker: string): CodeBlock {
  const block = codeBlocks(join(DOCS, doc)).find((b) => b.marker === marker);
  if (block === undefined) throw new Error(`docs/${doc} has no code block marked <!-- doc-test: ${marker} -->`);
  return block;
}

/**
 * Splits one shell command into words: single and double quotes, backslash escapes, a
 * `#` starting a word begins a comment. Enough for the commands the docs show; `$(…)`,
 * pipes and redirections are not interpreted (lines that need them are not CLI lines).
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === '#' && word === undefined) {
      break;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new Error(`unclosed ' in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let text = '';
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) text += line[j] === '\\' && j + 1 < line.length ? line[++j] : line[j];
      if (j === line.length) throw new Error(`unclosed " in: ${line}`);
      word = (word ?? '') + text;
      i = j;
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The commands of a shell block: continuation lines joined, comment-only and blank lines left out. */
export function shellCommands(code: string): string[] {
  const commands: string[] = [];
  let pending = '';
  for (const raw of code.split('\n')) {
    const line = pending + raw;
    if (/\\\s*$/.test(line)) {
      pending = line.replace(/\\\s*$/, ' ');
      continue;
    }
    pending = '';
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    commands.push(line.trim());
  }
  return commands;
}

export interface CliLine {
  readonly where: string;
  readonly text: string;
  /** The arguments after `rustdht`. */
  readonly argv: string[];
}

/** The arguments of a command that runs the rustdht CLI (`rustdht …`, `npx rustdht …`, a path ending in /rustdht), else undefined. */
export function rustdhtArgv(command: string): string[] | undefined {
  const words = shellWords(command);
  const start = words[0] === 'npx' ? 1 : 0;
  const program = words[start];
  if (program === undefined || !(program === 'rustdht' || program.endsWith('/rustdht'))) return undefined;
  return words.slice(start + 1);
}

/** Every rustdht command line in the `sh` blocks of `files`. */
export function cliLines(files: readonly string[]): CliLine[] {
  const found: CliLine[] = [];
  for (const file of files) {
    for (const block of codeBlocks(file)) {
      if (block.lang !== 'sh') continue;
      for (const command of shellCommands(block.code)) {
        const argv = rustdhtArgv(command);
        if (argv !== undefined) found.push({ where: `${block.doc}:${block.line}`, text: command, argv });
      }
    }
  }
  return found;
}

/** `node FILE [args]` lines of a shell block and the `# …` lines after each: what the page says it prints. */
export function statedRuns(code: string): Array<{ readonly command: string; readonly output: string[] }> {
  const runs: Array<{ command: string; output: string[] }> = [];
  for (const line of code.split('\n')) {
    if (/^node\s/.test(line)) runs.push({ command: line.replace(/\s+#.*$/, '').trim(), output: [] });
    else if (line.startsWith('# ') && runs.length !== 0) runs[runs.length - 1]!.output.push(line.slice(2));
  }
  return runs;
}

/** The rows (cells, trimmed) of the tables in the section of `doc` under the heading `heading` (up to the next heading of any level). */
export function sectionTableRows(doc: string, heading: string): string[][] {
  const lines = readFileSync(join(DOCS, doc), 'utf8').split('\n');
  const start = lines.findIndex((line) => /^#+ /.test(line) && line.replace(/^#+ /, '') === heading);
  if (start === -1) throw new Error(`docs/${doc} has no heading "${heading}"`);
  const rows: string[][] = [];
  for (let i = start + 1; i < lines.length && !/^#+ /.test(lines[i]!); i++) {
    const line = lines[i]!;
    if (!line.startsWith('|') || /^\|[\s|:-]+\|$/.test(line)) continue;
    rows.push(line.slice(1, line.endsWith('|') ? -1 : undefined).split(/(?<!\\)\|/).map((cell) => cell.trim()));
  }
  return rows.slice(1); // the header row
}

/** The `code` spans of a table cell, in order. */
export function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
}
