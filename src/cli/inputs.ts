/**
 * @module cli/inputs — turns command-line flags into checked run inputs, before anything is opened, so a
 * usage mistake costs nothing and exits 2.
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from 'commander';
import { DroverError } from '../errors.ts';
import type { FlockConfig } from '../config/model.ts';
import type { Plan, RunInputs } from '../engine/index.ts';

/** Commander collector for the repeatable `--artifact NAME=VERSION`. */
export function collectArtifact(
  value: string,
  previous: Record<string, string> = {},
): Record<string, string> {
  const m = /^([A-Za-z][A-Za-z0-9_-]*)=(.+)$/.exec(value);
  if (!m) throw new InvalidArgumentError(`expected NAME=VERSION (e.g. app=v1), got '${value}'`);
  const [, name, version] = m as unknown as [string, string, string];
  if (name in previous && previous[name] !== version) {
    throw new InvalidArgumentError(`artifact '${name}' given twice with different versions`);
  }
  return { ...previous, [name]: version };
}

/** Commander parser for a positive integer flag such as `--parallelism N`. */
export function positiveInt(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > 1000) {
    throw new InvalidArgumentError(`expected a whole number from 1 to 1000, got '${value}'`);
  }
  return Number(value);
}

/** Placeholder version for artifacts a destroy was not given: a destroy deploys nothing. */
const DESTROY_VERSION = '(destroy)';

/**
 * Checks the target and the artifact versions against the flock: an unknown target is TARGET_UNKNOWN, an
 * unknown artifact name is USAGE, a flock artifact without a version is ARTIFACT_VERSION_MISSING (SPEC §8).
 */
export function resolveInputs(
  config: FlockConfig,
  flags: {
    target: string;
    artifacts: Readonly<Record<string, string>>;
    releaseId?: string;
    destroy?: boolean;
  },
): RunInputs {
  if (!config.targets.some((t) => t.name === flags.target)) {
    const names = config.targets.map((t) => t.name).join(', ');
    throw new DroverError(
      'TARGET_UNKNOWN',
      `flock '${config.flock}' has no target '${flags.target}' (targets: ${names})`,
    );
  }
  const declared = new Set(config.artifacts.map((a) => a.name));
  const unknown = Object.keys(flags.artifacts).filter((n) => !declared.has(n));
  if (unknown.length) {
    throw new DroverError(
      'USAGE',
      `--artifact names ${unknown.map((n) => `'${n}'`).join(', ')} not declared in flock '${config.flock}' (artifacts: ${[...declared].join(', ') || 'none'})`,
    );
  }
  const artifacts: Record<string, string> = { ...flags.artifacts };
  const missing = config.artifacts.filter((a) => !(a.name in artifacts));
  if (flags.destroy) {
    for (const a of missing) artifacts[a.name] = DESTROY_VERSION;
  } else if (missing.length) {
    throw new DroverError(
      'ARTIFACT_VERSION_MISSING',
      `no version for artifact${missing.length > 1 ? 's' : ''} ${missing.map((a) => `'${a.name}'`).join(', ')}: pass ${missing.map((a) => `--artifact ${a.name}=VERSION`).join(' ')}`,
      {
        problems: missing.map((a) => ({
          message: `artifact '${a.name}' has no version for this release`,
          location: a.location,
        })),
      },
    );
  }
  if (flags.releaseId !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(flags.releaseId)) {
    throw new DroverError(
      'USAGE',
      `--release-id '${flags.releaseId}' is not a valid id (letters, digits, . _ : -)`,
    );
  }
  return {
    target: flags.target,
    artifacts,
    ...(flags.releaseId !== undefined ? { releaseId: flags.releaseId } : {}),
    ...(flags.destroy ? { destroy: true } : {}),
  };
}

/** Reads a plan saved by `drover plan --out FILE`; anything that is not one is PLAN_FILE_INVALID. */
export async function readPlanFile(file: string): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new DroverError('PLAN_FILE_INVALID', `cannot read plan file ${file}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DroverError('PLAN_FILE_INVALID', `${file} is not JSON: ${(e as Error).message}`);
  }
  const p = value as Partial<Plan> | null;
  const ok =
    p !== null &&
    typeof p === 'object' &&
    p.format_version === 1 &&
    typeof p.flock === 'string' &&
    typeof p.target === 'string' &&
    typeof p.release_id === 'string' &&
    typeof p.execution_id === 'string' &&
    typeof p.config_digest === 'string' &&
    typeof p.destroy === 'boolean' &&
    typeof p.state === 'object' &&
    p.state !== null &&
    typeof p.state.lineage === 'string' &&
    typeof p.state.serial === 'number' &&
    typeof p.artifacts === 'object' &&
    p.artifacts !== null &&
    Array.isArray(p.operations);
  if (!ok)
    throw new DroverError(
      'PLAN_FILE_INVALID',
      `${file} is not a Drover plan (format_version 1); make one with drover plan --out FILE`,
    );
  return p as Plan;
}
