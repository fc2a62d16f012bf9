/**
 * @module engine/release-id — local-mode release ids: the same config and artifact versions are the same
 * release (SPEC §3), so re-running an apply does not re-run deployment tasks that already succeeded.
 */
import { createHash } from 'node:crypto';
import type { FlockConfig } from '../config/model.ts';

/** A UUID (version 5 layout, SHA-based) derived from the config digest and the sorted artifact versions. */
export function localReleaseId(
  config: Pick<FlockConfig, 'digest'>,
  artifacts: Readonly<Record<string, string>>,
): string {
  const h = createHash('sha256');
  h.update(config.digest);
  for (const name of Object.keys(artifacts).sort()) h.update(`\n${name}=${artifacts[name]}`);
  const b = h.digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
