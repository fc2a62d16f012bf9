/**
 * @module config/testing — helpers for config tests: a small type catalog (zod strict objects, no
 * network) and temporary flock directories that are removed after each test.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { ResourceType, TypeCatalog } from '../providers/types.ts';

function fakeType(
  type: string,
  schema: z.ZodType,
  kind: 'infrastructure' | 'task' = 'infrastructure',
): ResourceType {
  const refuse = (): never => {
    throw new Error(`${type}: the config test catalog has schemas only`);
  };
  return {
    type,
    description: `test type ${type}`,
    schema: schema as z.ZodType<Record<string, unknown>>,
    replaceOn: [],
    kind,
    read: async () => refuse(),
    create: async () => refuse(),
    delete: async () => refuse(),
    lookup: async () => refuse(),
  };
}

/** sim.network {name, cidr}, sim.instance {name, network, shape, count?}, sim.bucket {name}, local.file {path, content, mode?}, drover.deployment {instance, artifact}. */
export function testCatalog(): TypeCatalog {
  const types = [
    fakeType(
      'sim.network',
      z.strictObject({
        name: z.string(),
        cidr: z
          .string()
          .regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/, { error: 'expected a CIDR block like 10.0.0.0/16' }),
      }),
    ),
    fakeType(
      'sim.instance',
      z.strictObject({
        name: z.string(),
        network: z.string(),
        shape: z.enum(['small', 'large']),
        count: z.number().int().optional(),
      }),
    ),
    fakeType('sim.bucket', z.strictObject({ name: z.string() })),
    fakeType(
      'local.file',
      z.strictObject({ path: z.string(), content: z.string(), mode: z.string().optional() }),
    ),
    fakeType('drover.deployment', z.strictObject({ instance: z.string(), artifact: z.string() }), 'task'),
  ];
  const byName = new Map(types.map((t) => [t.type, t]));
  return { get: (t) => byName.get(t), types: () => types };
}

/** Temporary flock directories; call `cleanup()` in afterEach. */
export function tempFlocks(): {
  make(files: Record<string, string>): Promise<string>;
  cleanup(): Promise<void>;
} {
  const dirs: string[] = [];
  return {
    async make(files) {
      const dir = await mkdtemp(path.join(tmpdir(), 'drover-flock-'));
      dirs.push(dir);
      for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
      return dir;
    },
    async cleanup() {
      await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}
