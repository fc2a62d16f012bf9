/**
 * `npm run bench [NAME...]` — runs the benchmarks one after another, each in its own process so that
 * peak RSS and event-loop load are its own. With no names, all of them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const all = ['apply-graph', 'plan-noop', 'scheduler', 'failover', 'proxy'];
const root = fileURLToPath(new URL('..', import.meta.url));
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : all;
let failed = 0;
for (const name of wanted) {
  const file = `bench/${name}.ts`;
  if (!existsSync(`${root}/${file}`)) {
    console.log(`[${name}] not present in this build; skipped`);
    continue;
  }
  console.log(`\n=== ${name} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`[${name}] exited with ${r.status}`);
  }
}
process.exit(failed ? 1 : 0);
