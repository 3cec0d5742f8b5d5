#!/usr/bin/env node
// The API reference: TypeDoc over the package's two public entry points, the ones
// `import 'rustdht'` resolves to (sdk-ts/src/node.ts for Node, sdk-ts/src/browser.ts for
// bundlers), as HTML in docs/api/ (generated, not committed: .gitignore). Built from the
// TypeScript declarations and their doc comments, never copied by hand.
//
//   npm run docs:api                       → docs/api/index.html
//   node scripts/api-docs.mjs --out DIR    → elsewhere (the docs test writes to a temp dir)
//   node scripts/api-docs.mjs --report FILE  also writes the warnings as JSON
//
// TypeDoc validates the result. Warnings fall in two groups:
//   - defects of the generated pages (a {@link} that resolves nowhere, TypeDoc's own
//     warnings): printed, and the script exits 1;
//   - gaps in the doc comments (a public symbol without a comment, a public signature
//     naming a type the reference does not include): printed as a list to fix in
//     sdk-ts/src, exit 0. `--strict` makes them fail too. sdk-ts/test/docs checks that
//     none concerns the main API (RustDHT, Ref, Identity, Network…).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TYPEDOC = join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(ROOT, 'docs', 'api') },
    report: { type: 'string' },
    strict: { type: 'boolean', default: false },
  },
});
const out = resolve(values.out);

const args = [
  TYPEDOC,
  '--tsconfig', join(ROOT, 'sdk-ts', 'tsconfig.build.json'),
  '--entryPoints', join(ROOT, 'sdk-ts', 'src', 'node.ts'),
  '--entryPoints', join(ROOT, 'sdk-ts', 'src', 'browser.ts'),
  '--out', out,
  '--cleanOutputDir',
  '--name', 'rustdht',
  '--readme', 'none',
  // What a user can call: no #private fields, no protected platform hooks, no @internal.
  '--excludePrivate',
  '--excludeProtected',
  '--excludeInternal',
  // By kind, then static members first (RustDHT.open), then by name.
  '--sort', 'kind',
  '--sort', 'static-first',
  '--sort', 'alphabetical',
  // No links to a git host: the reference must build from any checkout.
  '--disableSources',
  '--validation.invalidLink',
  '--validation.notExported',
  '--validation.notDocumented',
  '--logLevel', 'Info',
];

const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
if (result.error) throw result.error;
const output = `${result.stdout}${result.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');

const warnings = output.split('\n').filter((line) => line.startsWith('[warning] ') && !/^\[warning\] Found \d+ errors? and \d+ warnings?/.test(line)).map((line) => line.slice('[warning] '.length));
const errors = output.split('\n').filter((line) => line.startsWith('[error] ')).map((line) => line.slice('[error] '.length));
const isGap = (warning) => / does not have any documentation$/.test(warning) || / is referenced by .* but not included in the documentation$/.test(warning);
const gaps = warnings.filter(isGap);
const defects = warnings.filter((warning) => !isGap(warning));

if (values.report !== undefined) {
  mkdirSync(dirname(resolve(values.report)), { recursive: true });
  writeFileSync(values.report, `${JSON.stringify({ out, status: result.status, errors, defects, gaps }, null, 2)}\n`);
}

for (const error of errors) console.error(`error: ${error}`);
for (const defect of defects) console.error(`warning: ${defect}`);
if (gaps.length !== 0) {
  console.log(`${gaps.length} doc comment gap(s) in sdk-ts/src (public symbols without a comment, or naming types the reference leaves out):`);
  for (const gap of gaps) console.log(`  ${gap}`);
}
const failed = result.status !== 0 || errors.length !== 0 || defects.length !== 0 || (values.strict && gaps.length !== 0);
if (failed) {
  console.error(`api-docs: failed (typedoc exit ${result.status}, ${errors.length} error(s), ${defects.length} warning(s)${values.strict ? `, ${gaps.length} gap(s)` : ''}).`);
  if (result.status !== 0 && errors.length === 0) console.error(output);
  process.exit(1);
}
console.log(`api-docs: ${join(out, 'index.html')}`);
