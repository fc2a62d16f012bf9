/**
 * @module worker/launch — how to start one of Drover's own modules as a Node child process, whether we run
 * from TypeScript sources (through tsx's loader, resolved to an absolute file so the child's working
 * directory does not matter) or from the built `dist/` JavaScript.
 */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

/** argv (after the node binary) that runs the sibling module `rel` of `fromUrl` (e.g. '../proxy/main.ts'). */
export function nodeArgsFor(fromUrl: string, rel: string): string[] {
  // Built to dist/, both ends are .js files.
  const source = new URL(fromUrl.endsWith('.js') ? rel.replace(/\.ts$/, '.js') : rel, fromUrl);
  const file = fileURLToPath(source);
  if (file.endsWith('.ts')) {
    const loader = pathToFileURL(require.resolve('tsx')).href;
    return ['--import', loader, file];
  }
  return [file];
}
