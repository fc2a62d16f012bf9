/**
 * @module sim/kinds — the resource kinds the simulator serves, their URL segments, id prefixes and
 * property schemas (the server-side mirror of the `sim.*` provider types).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';

/** A kind as it appears in resources, the inventory and the journal (`sim.<kind>` in flocks). */
export type Kind = 'network' | 'instance' | 'bucket' | 'dns_record' | 'load_balancer' | 'user';

/** URL path segment → kind. */
export const KIND_BY_SEGMENT: Readonly<Record<string, Kind>> = {
  networks: 'network',
  instances: 'instance',
  buckets: 'bucket',
  dns_records: 'dns_record',
  load_balancers: 'load_balancer',
  users: 'user',
};

export const ID_PREFIX: Readonly<Record<Kind, string>> = {
  network: 'net-',
  instance: 'i-',
  bucket: 'bkt-',
  dns_record: 'dns-',
  load_balancer: 'lb-',
  user: 'usr-',
};

export const SHAPES = ['small', 'medium', 'large'] as const;
export const DNS_TYPES = ['A', 'AAAA', 'CNAME', 'TXT'] as const;

const name = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f]+$/, 'must not contain control characters');

function isCidr(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  if (!m) return false;
  const parts = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  return parts.every((p) => p <= 255) && prefix <= 32;
}

const cidr = z.string().refine(isCidr, 'must be an IPv4 CIDR block such as 10.0.0.0/16');

const schemas = {
  network: z.strictObject({ name, cidr }),
  instance: z.strictObject({
    name,
    network: z.string().min(1, 'must be a network id'),
    shape: z.enum(SHAPES),
  }),
  bucket: z.strictObject({ name }),
  dns_record: z.strictObject({
    name,
    type: z.enum(DNS_TYPES),
    value: z.string().min(1, 'must not be empty').max(4096),
  }),
  load_balancer: z.strictObject({ name, backends: z.array(z.string().min(1)).max(1000) }),
  user: z.strictObject({ name }),
} as const satisfies Record<Kind, z.ZodType>;

export type Properties = Record<string, unknown> & { name: string };

export type Checked =
  { readonly ok: true; readonly props: Properties } | { readonly ok: false; readonly message: string };

function describeIssues(kind: Kind, issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const where = i.path.length ? i.path.join('.') : kind;
      return `${where}: ${i.message}`;
    })
    .join('; ');
}

/** Cross-field rules zod's per-field schema does not express. */
function crossCheck(kind: Kind, p: Properties): string | undefined {
  if (kind === 'dns_record') {
    const type = p['type'];
    const value = String(p['value']);
    if (type === 'A' && !isIPv4(value)) return 'value: an A record needs an IPv4 address';
    if (type === 'AAAA' && !isIPv6(value)) return 'value: an AAAA record needs an IPv6 address';
  }
  return undefined;
}

/** Validates a full property set (create). */
export function checkCreate(kind: Kind, body: unknown): Checked {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, message: 'the body must be a JSON object of properties' };
  const r = schemas[kind].safeParse(body);
  if (!r.success) return { ok: false, message: describeIssues(kind, r.error.issues) };
  const props = r.data as Properties;
  const cross = crossCheck(kind, props);
  return cross ? { ok: false, message: cross } : { ok: true, props };
}

/** Validates a change (PATCH) against the current properties; `name` may not change. */
export function checkUpdate(kind: Kind, current: Properties, body: unknown): Checked {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, message: 'the body must be a JSON object of changed properties' };
  const r = schemas[kind].partial().safeParse(body);
  if (!r.success) return { ok: false, message: describeIssues(kind, r.error.issues) };
  const change = r.data as Record<string, unknown>;
  if (change['name'] !== undefined && change['name'] !== current.name)
    return { ok: false, message: 'name: is immutable (create a new resource instead)' };
  const merged = { ...current, ...change } as Properties;
  const cross = crossCheck(kind, merged);
  return cross ? { ok: false, message: cross } : { ok: true, props: merged };
}
