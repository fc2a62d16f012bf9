/**
 * @module signing/credentials — the access key pair that signs simulator calls.
 *
 * Local mode and a worker's signing proxy read them from the environment; a task never does.
 */
import { DroverError } from '../errors.ts';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Reads DROVER_SIM_ACCESS_KEY / DROVER_SIM_SECRET_KEY; throws CREDENTIALS_MISSING if either is absent. */
export function credentialsFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Credentials {
  const accessKeyId = env['DROVER_SIM_ACCESS_KEY']?.trim();
  const secretAccessKey = env['DROVER_SIM_SECRET_KEY']?.trim();
  if (!accessKeyId || !secretAccessKey) {
    const missing = [
      !accessKeyId && 'DROVER_SIM_ACCESS_KEY',
      !secretAccessKey && 'DROVER_SIM_SECRET_KEY',
    ].filter(Boolean);
    throw new DroverError(
      'CREDENTIALS_MISSING',
      `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set (run \`drover sim\`: it prints a key pair to export)`,
      { details: { missing } },
    );
  }
  return { accessKeyId, secretAccessKey };
}

/**
 * Parses `KEY:SECRET,KEY:SECRET` (DROVER_SIM_KEYS) into a key table. Throws USAGE on a malformed pair.
 */
export function parseKeyList(list: string): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const raw of list.split(',')) {
    const pair = raw.trim();
    if (pair === '') continue;
    const at = pair.indexOf(':');
    if (at <= 0 || at === pair.length - 1) {
      throw new DroverError(
        'USAGE',
        `DROVER_SIM_KEYS: expected KEY:SECRET pairs separated by commas, got "${pair.slice(0, 40)}"`,
      );
    }
    keys[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return keys;
}
