/**
 * Starts the region simulator as its own process (so its CPU does not compete with the measured one's
 * event loop) and returns its URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface SimProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

const root = fileURLToPath(new URL('../..', import.meta.url));

export async function startSimProcess(args: string[], env: Record<string, string>): Promise<SimProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/sim/main.ts', '--port', '0', '--json', ...args],
    {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const rl = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
    rl.on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { url?: string };
        if (msg.url) resolve(msg.url);
      } catch {
        /* not the JSON line */
      }
    });
  });
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
