/**
 * Writes docs/flock.schema.json from the built-in type catalog (`npx tsx scripts/gen-schema.ts`);
 * `--check` only compares and exits 1 when the committed file is stale.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderFlockJsonSchema } from '../src/config/schema.ts';

export const SCHEMA_FILE = fileURLToPath(new URL('../docs/flock.schema.json', import.meta.url));

/** The real catalog, imported lazily so this module loads even while providers are being built. */
export async function builtinSchemaText(): Promise<string> {
  const { defaultCatalog } = await import('../src/providers/index.ts');
  return renderFlockJsonSchema(defaultCatalog());
}

async function main(): Promise<void> {
  const text = await builtinSchemaText();
  if (process.argv.includes('--check')) {
    const current = await readFile(SCHEMA_FILE, 'utf8').catch(() => '');
    if (current !== text) {
      console.error(`${SCHEMA_FILE} is stale: run npx tsx scripts/gen-schema.ts`);
      process.exit(1);
    }
    return;
  }
  await writeFile(SCHEMA_FILE, text);
  console.log(`wrote ${SCHEMA_FILE}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
