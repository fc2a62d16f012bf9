/**
 * @module demo/main — `npm start`: a self-contained tour of local mode.
 *
 * Starts the region simulator in this process on an ephemeral port with a freshly generated key pair
 * (exported to process.env for the run, as a user would), then drives the CLI's own command functions —
 * validate, apply (plan shown, `--yes`), plan again (no changes) — on examples/hello's first target.
 * State goes to a fresh `./.drover/demo` data directory (PGlite), wiped at the start of every run.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { startSim, type SimHandle } from '../sim/index.ts';
import { runApply } from '../cli/commands/apply.ts';
import { runPlan } from '../cli/commands/plan.ts';
import { runValidate } from '../cli/commands/validate.ts';
import { processIo, type CliIo } from '../cli/io.ts';
import { reportError } from '../cli/output.ts';

const FLOCK_DIR =
  relative(process.cwd(), fileURLToPath(new URL('../../examples/hello', import.meta.url))) || '.';
const DATA_DIR = './.drover/demo';
const TARGET = 'beta';
const ARTIFACTS = { app: 'v1' } as const;

function step(io: CliIo, title: string): void {
  io.stdout.write(io.color ? `\n\x1b[1m== ${title}\x1b[0m\n` : `\n== ${title}\n`);
}

async function demo(io: CliIo, sim: SimHandle): Promise<number> {
  const common = { dir: FLOCK_DIR, target: TARGET, artifacts: ARTIFACTS, dataDir: DATA_DIR };
  const artifactFlags = Object.entries(ARTIFACTS)
    .map(([n, v]) => `--artifact ${n}=${v}`)
    .join(' ');

  step(io, `drover validate ${FLOCK_DIR}`);
  let code = await runValidate({ dir: FLOCK_DIR }, io);
  if (code !== 0) return code;

  step(io, `drover apply ${FLOCK_DIR} --target ${TARGET} ${artifactFlags} --yes --data-dir ${DATA_DIR}`);
  code = await runApply({ ...common, yes: true }, io);
  if (code !== 0) return code;

  step(io, `what the simulator holds now (GET ${sim.url}/_resources)`);
  const inventory = (await (await fetch(`${sim.url}/_resources`)).json()) as {
    kind: string;
    id: string;
    name: string;
    region: string;
    state: string;
  }[];
  for (const r of inventory)
    io.stdout.write(
      `  ${r.region.padEnd(8)} ${r.kind.padEnd(10)} ${r.name.padEnd(20)} ${r.id}  ${r.state}\n`,
    );
  io.stdout.write(`  and the rendered config: ${FLOCK_DIR}/out/${TARGET}/app.conf\n`);

  step(
    io,
    `drover plan ${FLOCK_DIR} --target ${TARGET} ${artifactFlags} --data-dir ${DATA_DIR}   (again: nothing to do)`,
  );
  code = await runPlan(common, io);
  if (code !== 0) return code;

  io.stdout.write(
    `\nDone. Try it yourself with the simulator in another terminal (npx drover sim), then e.g.\n` +
      `  npx drover plan ${FLOCK_DIR} --target prod-east --artifact app=v2\n`,
  );
  return 0;
}

async function main(): Promise<number> {
  const io = processIo();
  // A fresh key pair for this run only; the simulator accepts it and local mode signs with it.
  const accessKey = `DEMO${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretKey = randomBytes(24).toString('base64url');
  let sim: SimHandle | undefined;
  try {
    await rm(DATA_DIR, { recursive: true, force: true });
    await mkdir(DATA_DIR, { recursive: true });
    sim = await startSim({ port: 0, keys: { [accessKey]: secretKey } });
    process.env['DROVER_SIM_URL'] = sim.url;
    process.env['DROVER_SIM_ACCESS_KEY'] = accessKey;
    process.env['DROVER_SIM_SECRET_KEY'] = secretKey;
    io.stdout.write(
      `Drover demo: region simulator on ${sim.url} (in this process), state in ${DATA_DIR} (PGlite, fresh).\n`,
    );
    return await demo(io, sim);
  } catch (e) {
    return reportError(e, io);
  } finally {
    await sim?.close();
  }
}

process.exit(await main());
