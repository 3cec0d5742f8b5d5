// Node module hooks that let a child process import the SDK's TypeScript sources
// directly (Node 20 cannot strip types itself): `.js` specifiers fall back to the `.ts`
// file next to them, and `.ts` files are transpiled with the repo's TypeScript
// (types erased, nothing else changed). Transpiled files are cached in the system's
// temp directory by path, size and mtime, so only the first of many processes pays
// for loading the compiler.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CACHE = join(tmpdir(), 'rustdht-ts-hooks-cache');
let typescript;

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !specifier.endsWith('.js') || !specifier.startsWith('.')) throw error;
    return nextResolve(specifier.slice(0, -3) + '.ts', context);
  }
}

export async function load(url, context, nextLoad) {
  if (!url.endsWith('.ts')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const { size, mtimeMs } = statSync(path);
  const cached = join(CACHE, createHash('sha256').update(`${path}\0${size}\0${mtimeMs}`).digest('hex') + '.js');
  let source;
  try {
    source = readFileSync(cached, 'utf8');
  } catch {
    typescript ??= (await import('typescript')).default;
    source = typescript.transpileModule(readFileSync(path, 'utf8'), {
      fileName: path,
      compilerOptions: { module: typescript.ModuleKind.ESNext, target: typescript.ScriptTarget.ES2022, sourceMap: false },
    }).outputText;
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(`${cached}.${process.pid}`, source);
    // Rename is atomic: a concurrent reader sees the whole file or none.
    renameSync(`${cached}.${process.pid}`, cached);
  }
  return { format: 'module', source, shortCircuit: true };
}
