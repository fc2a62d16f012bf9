/** Generated flocks for benchmarks and tests: layered DAGs of sim.* resources. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../../src/sim/random.ts';

export interface LayeredFlock {
  readonly dir: string;
  readonly count: number;
  readonly depth: number;
}

/** Deterministic PRNG (the simulator's mulberry32) so the same seed is the same graph. */
export const rng = seededRandom;

/**
 * `count` resources in `depth` layers; each resource past the first layer depends on 1–3 resources of the
 * layer before, so the critical path is exactly `depth` operations long.
 */
export function layeredFlock(count: number, depth: number, seed = 1, region = 'bench-1'): LayeredFlock {
  const rand = rng(seed);
  const dir = mkdtempSync(join(tmpdir(), 'drover-bench-'));
  mkdirSync(dir, { recursive: true });
  const perLayer = Math.ceil(count / depth);
  const layers: string[][] = [];
  const lines: string[] = [
    'flock: bench',
    'targets:',
    `  - { name: t1, region: ${region}, approval: auto }`,
    'providers:',
    '  sim: { endpoint: "${env.DROVER_SIM_URL}" }',
    'resources:',
  ];
  let n = 0;
  for (let l = 0; l < depth && n < count; l++) {
    const layer: string[] = [];
    for (let i = 0; i < perLayer && n < count; i++, n++) {
      const name = `r${String(n).padStart(5, '0')}`;
      layer.push(name);
      const kind = n % 2 === 0 ? 'sim.bucket' : 'sim.user';
      const prev = layers[l - 1];
      let deps = '';
      if (prev && prev.length) {
        const k = 1 + Math.floor(rand() * 3);
        const picked = new Set<string>();
        for (let j = 0; j < k; j++) picked.add(prev[Math.floor(rand() * prev.length)]!);
        deps = `, depends_on: [${[...picked].join(', ')}]`;
      }
      lines.push(`  ${name}: { type: ${kind}, properties: { name: ${name} }${deps} }`);
    }
    layers.push(layer);
  }
  writeFileSync(join(dir, 'flock.yaml'), lines.join('\n') + '\n');
  return { dir, count: n, depth: layers.length };
}
