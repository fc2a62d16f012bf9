/**
 * @module providers/sim/names — property schemas shared by the `sim.*` types (they mirror what the
 * simulator validates, so `drover validate` catches what the service would refuse).
 */
import { z } from 'zod';

export const simName = z
  .string()
  .min(1)
  .max(255)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f]+$/, 'must not contain control characters');

function isCidr(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  return m !== null && m.slice(1, 5).every((p) => Number(p) <= 255) && Number(m[5]) <= 32;
}

export const cidr = z.string().refine(isCidr, 'an IPv4 CIDR block such as 10.0.0.0/16');
