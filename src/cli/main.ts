/**
 * @module cli/main — the `drover` entry point (bin/drover.js loads it): runs the CLI and exits with its code.
 */
import { runCli } from './program.ts';

const code = await runCli(process.argv.slice(2));
// undefined: a long-running command (sim, server, worker) owns the process now.
if (code !== undefined) process.exit(code);
