import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createPlainHttpClient, createSignedHttpClient } from '../signing/index.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function spawnSim(args: string[], env: Record<string, string | undefined>): ChildProcess {
  const base = { ...process.env };
  delete base['DROVER_SIM_ACCESS_KEY'];
  delete base['DROVER_SIM_SECRET_KEY'];
  delete base['DROVER_SIM_KEYS'];
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

async function firstLine(child: ChildProcess): Promise<string> {
  const rl = createInterface({ input: child.stdout! });
  const [line] = (await once(rl, 'line')) as [string];
  rl.close();
  return line;
}

async function output(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

describe('drover sim as a process', () => {
  it('prints {url, port} first with --json, serves signed calls with the env keys, stops on SIGTERM', async () => {
    const child = spawnSim(['--port', '0', '--json', '--provision-ms', '0'], {
      DROVER_SIM_KEYS: 'AKONE:s1,AKTWO:s2',
    });
    const done = output(child);
    const info = JSON.parse(await firstLine(child)) as { url: string; port: number; accessKeyId?: string };
    expect(info.port).toBeGreaterThan(0);
    expect(info.url).toBe(`http://127.0.0.1:${info.port}`);
    expect(info.accessKeyId).toBeUndefined();
    const c = createSignedHttpClient({ accessKeyId: 'AKTWO', secretAccessKey: 's2' });
    const plain = createPlainHttpClient();
    try {
      expect((await plain.request({ method: 'GET', url: `${info.url}/_healthz` })).status).toBe(200);
      expect(
        (await c.request({ method: 'POST', url: `${info.url}/regions/r1/users`, body: { name: 'x' } }))
          .status,
      ).toBe(201);
    } finally {
      c.close();
      plain.close();
    }
    child.kill('SIGTERM');
    const { code, stderr } = await done;
    expect(code).toBe(0);
    expect(stderr).toMatch(/drover sim stopped/);
  });

  it('generates and prints a key pair when none is configured', async () => {
    const child = spawnSim(['--port', '0', '--json'], {});
    const done = output(child);
    const info = JSON.parse(await firstLine(child)) as {
      url: string;
      accessKeyId: string;
      secretAccessKey: string;
    };
    const c = createSignedHttpClient({
      accessKeyId: info.accessKeyId,
      secretAccessKey: info.secretAccessKey,
    });
    try {
      expect((await c.request({ method: 'GET', url: `${info.url}/regions/r1/users` })).status).toBe(200);
    } finally {
      c.close();
    }
    child.kill('SIGINT');
    const { code, stderr } = await done;
    expect(code).toBe(0);
    expect(stderr).toContain(`export DROVER_SIM_ACCESS_KEY=${info.accessKeyId}`);
    expect(stderr).toContain(`export DROVER_SIM_SECRET_KEY=${info.secretAccessKey}`);
  });

  it('exits 2 with a usage message on bad flags', async () => {
    const cases = [['--error-rate', '2'], ['--outage', 'soon'], ['--bogus']];
    const results = await Promise.all(
      cases.map((args) =>
        output(
          spawnSim(['--port', '0', ...args], { DROVER_SIM_ACCESS_KEY: 'a', DROVER_SIM_SECRET_KEY: 'b' }),
        ),
      ),
    );
    results.forEach(({ code, stderr }, i) => {
      const label = cases[i]?.join(' ');
      expect(code, label).toBe(2);
      expect(stderr, label).toMatch(/USAGE: .*\n.*usage: drover sim/);
    });
  });
});
