/** A real simulator on an ephemeral port with fresh keys, and a signed client for it. */
import { randomBytes } from 'node:crypto';
import { startSim, type SimHandle, type SimOptions } from '../../src/sim/index.ts';
import { createSignedHttpClient } from '../../src/signing/index.ts';
import type { HttpClient } from '../../src/providers/types.ts';

export interface TestSim {
  readonly sim: SimHandle;
  readonly url: string;
  readonly keys: { DROVER_SIM_ACCESS_KEY: string; DROVER_SIM_SECRET_KEY: string };
  readonly http: HttpClient;
  /** GET /_resources */
  resources(): Promise<{ kind: string; id: string; name: string; region: string; state: string }[]>;
  close(): Promise<void>;
}

export async function startTestSim(opts: Partial<SimOptions> = {}): Promise<TestSim> {
  const keys = {
    DROVER_SIM_ACCESS_KEY: 'AKTEST' + randomBytes(4).toString('hex').toUpperCase(),
    DROVER_SIM_SECRET_KEY: randomBytes(20).toString('hex'),
  };
  const sim = await startSim({ ...opts, keys: { [keys.DROVER_SIM_ACCESS_KEY]: keys.DROVER_SIM_SECRET_KEY } });
  const http = createSignedHttpClient({
    accessKeyId: keys.DROVER_SIM_ACCESS_KEY,
    secretAccessKey: keys.DROVER_SIM_SECRET_KEY,
  });
  return {
    sim,
    url: sim.url,
    keys,
    http,
    async resources() {
      const r = await fetch(`${sim.url}/_resources`);
      return (await r.json()) as { kind: string; id: string; name: string; region: string; state: string }[];
    },
    close: () => sim.close(),
  };
}
