/**
 * @module cli/io — the terminal a command talks to: output streams, environment, and yes/no questions.
 *
 * Commands take a CliIo instead of touching `process` so the demo (and anything else embedding a
 * command) drives exactly the same code with its own streams.
 */
import { createInterface } from 'node:readline/promises';

export interface OutStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface CliIo {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** A person can answer questions (stdin is a terminal). */
  readonly interactive: boolean;
  /** Colour is wanted on stdout (a terminal, and NO_COLOR unset). */
  readonly color: boolean;
  /** Asks a yes/no question on the terminal; resolves true only on an explicit yes. */
  ask(question: string): Promise<boolean>;
}

/** The process's own terminal. */
export function processIo(): CliIo {
  const interactive = Boolean(process.stdin.isTTY);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    interactive,
    color: Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'],
    async ask(question: string): Promise<boolean> {
      // No terminal: nobody can say yes, so the answer is no (fail closed).
      if (!interactive) return false;
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = await rl.question(`${question} [yes/no] `);
        return /^(y|yes)$/i.test(answer.trim());
      } finally {
        rl.close();
      }
    },
  };
}
