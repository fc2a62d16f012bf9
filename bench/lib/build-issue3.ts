/**
 * The compiled build the leased-worker benchmarks (failover, scheduler, proxy) run their workers, signing
 * proxies and task processes from — JavaScript, as production runs them (`npm run build` → dist/), not
 * TypeScript compiled on the fly by tsx at every process start (which alone cost ~3 s per task process
 * on the loaded benchmark machine).
 *
 * Why not dist/ itself: `bin/drover.js` prefers dist/ when it exists, so a dist/ left behind by a
 * benchmark would make every later `drover` run (and the CLI tests of anyone sharing the tree) use code
 * that no longer matches src/. The same tsc build, with the same assets copied as `npm run build` does,
 * goes to node_modules/.cache/drover-bench-build/ instead, which nothing else looks at. It is brought up
 * to date at the start of every benchmark (tsc --incremental: seconds when nothing changed).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BUILD_DIR = join(ROOT, 'node_modules', '.cache', 'drover-bench-build');

let built = false;

/** Compiles src/ into BUILD_DIR (incrementally) and copies the assets; returns BUILD_DIR. */
export function ensureBuild(label: string): string {
  if (built) return BUILD_DIR;
  const started = Date.now();
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  mkdirSync(BUILD_DIR, { recursive: true });
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      '-p',
      'tsconfig.build.json',
      '--outDir',
      BUILD_DIR,
      '--incremental',
      '--tsBuildInfoFile',
      join(BUILD_DIR, '.tsbuildinfo'),
      '--sourceMap',
      'false',
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  // tsc emits even when some file does not type-check (exit 2), e.g. another engineer's file mid-edit:
  // that is reported, and the benchmark goes on as long as what it runs was emitted.
  if (r.status !== 0) {
    const errors = (r.stdout.match(/error TS/g) ?? []).length;
    console.log(
      `[${label}] note: tsc reported ${errors} type error(s) while building (first: ${r.stdout.split('\n')[0]?.slice(0, 200) ?? ''})`,
    );
  }
  for (const f of ['worker/main.js', 'worker/task-main.js', 'proxy/main.js']) {
    if (!existsSync(join(BUILD_DIR, f)))
      throw new Error(`the build did not produce ${f}: ${(r.stdout + r.stderr).slice(0, 500)}`);
  }
  // The assets `npm run build` copies next to the compiled store.
  cpSync(join(ROOT, 'src/store/migrations'), join(BUILD_DIR, 'store/migrations'), { recursive: true });
  copyFileSync(join(ROOT, 'src/store/pglite-thread.mjs'), join(BUILD_DIR, 'store/pglite-thread.mjs'));
  // Inside node_modules, Node does not look above for the package's "type": say it here.
  writeFileSync(join(BUILD_DIR, 'package.json'), '{ "type": "module", "private": true }\n');
  console.log(`[${label}] compiled build up to date in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  built = true;
  return BUILD_DIR;
}
