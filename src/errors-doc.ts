/**
 * @module errors-doc — renders the error registry as docs/errors.md, so the docs cannot drift from it.
 */
import { ErrorCodes, type ErrorCode } from './errors.ts';

export function renderErrorsDoc(): string {
  const lines = [
    '# Error codes',
    '',
    'Every error Drover reports carries one of these stable codes: in the API body',
    '`{ "error": { "code", "message" } }` with the HTTP status below, and on the command line as',
    '`error CODE: message` with the exit code below (0 success, 1 failed, 2 invalid input or usage,',
    '3 conflict). Codes are never renamed or reused. This file is generated from `src/errors.ts`',
    '(`npx tsx scripts/gen-errors-doc.ts`); a test checks that they agree.',
    '',
    '| code | HTTP status | exit code | meaning |',
    '| --- | --- | --- | --- |',
  ];
  for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
    const c = ErrorCodes[code];
    lines.push(`| \`${code}\` | ${c.status} | ${c.exit} | ${c.summary} |`);
  }
  return lines.join('\n') + '\n';
}
