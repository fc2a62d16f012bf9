/**
 * Writes docs/errors.md from the registry in src/errors.ts (`npx tsx scripts/gen-errors-doc.ts`).
 * A test fails when the committed file differs from what this renders.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderErrorsDoc } from '../src/errors-doc.ts';

const out = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
writeFileSync(out, renderErrorsDoc());
console.log(`wrote ${out}`);
