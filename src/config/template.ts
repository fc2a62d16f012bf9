/**
 * @module config/template — the `${...}` syntax: splitting strings into text and references, and
 * classifying a reference (`target.name`, `release.id`, `execution.id`, `artifacts.NAME.version`,
 * `env.NAME`, `RESOURCE.ATTRIBUTE[.more]`). `$${` writes a literal `${`.
 */
import type { Reference } from './model.ts';
import { didYouMean } from './suggest.ts';

export type Piece =
  | { readonly kind: 'text'; readonly text: string }
  /** `index` is where the `${` starts in the string; `text` is the whole `${...}`. */
  | { readonly kind: 'ref'; readonly inner: string; readonly index: number; readonly text: string };

export interface SplitResult {
  readonly pieces: readonly Piece[];
  /** Set when a `${` has no closing `}`. */
  readonly unterminated?: { readonly index: number };
}

/** One scanner for values and raw source alike, so reference number N is the same `${` in both. */
export function splitTemplate(s: string): SplitResult {
  const pieces: Piece[] = [];
  let text = '';
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('$${', i)) {
      text += '${';
      i += 3;
    } else if (s.startsWith('${', i)) {
      const end = s.indexOf('}', i + 2);
      if (end === -1) return { pieces, unterminated: { index: i } };
      if (text) pieces.push({ kind: 'text', text });
      text = '';
      pieces.push({ kind: 'ref', inner: s.slice(i + 2, end), index: i, text: s.slice(i, end + 1) });
      i = end + 1;
    } else {
      text += s[i];
      i++;
    }
  }
  if (text || pieces.length === 0) pieces.push({ kind: 'text', text });
  return { pieces };
}

/** Where each `${` (not `$${`) starts, in the same order splitTemplate finds them. */
export function referenceStarts(s: string): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('$${', i)) i += 3;
    else if (s.startsWith('${', i)) {
      out.push(i);
      const end = s.indexOf('}', i + 2);
      i = end === -1 ? s.length : end + 1;
    } else i++;
  }
  return out;
}

export interface ReferenceContext {
  /** `${env.NAME}` is allowed (provider settings only). */
  readonly allowEnv: boolean;
  /** `${RESOURCE.ATTRIBUTE}` is allowed (resource properties only). */
  readonly allowResources: boolean;
  readonly resources: ReadonlySet<string>;
  readonly artifacts: ReadonlySet<string>;
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const TARGET_FIELDS = ['name', 'realm', 'tenancy', 'region', 'ad'] as const;
type TargetField = (typeof TARGET_FIELDS)[number];
const EXPECTED =
  'expected target.name|realm|tenancy|region|ad, release.id, execution.id, artifacts.NAME.version, env.NAME (in providers) or RESOURCE.ATTRIBUTE';

/** A reference without its location and text, which the caller adds. */
export type BareReference = Reference extends infer R
  ? R extends unknown
    ? Omit<R, 'location' | 'text'>
    : never
  : never;

/** Classifies the inside of `${...}`; returns a reference or what is wrong with it. */
export function classifyReference(
  inner: string,
  ctx: ReferenceContext,
): { ref: BareReference } | { problem: string } {
  const shown = '`${' + inner + '}`';
  const segments = inner.trim().split('.');
  if (inner.trim() === '' || !segments.every((s) => SEGMENT.test(s))) {
    return { problem: `invalid reference ${shown}: ${EXPECTED}` };
  }
  const [head, ...rest] = segments as [string, ...string[]];
  switch (head) {
    case 'target': {
      const field = rest[0];
      if (rest.length !== 1 || !(TARGET_FIELDS as readonly string[]).includes(field!)) {
        return {
          problem: `invalid reference ${shown}: expected target.name, target.realm, target.tenancy, target.region or target.ad`,
        };
      }
      return { ref: { scope: 'target', field: field as TargetField } };
    }
    case 'release':
    case 'execution':
      if (rest.length !== 1 || rest[0] !== 'id')
        return { problem: `invalid reference ${shown}: expected ${head}.id` };
      return { ref: { scope: head, field: 'id' } };
    case 'artifacts': {
      if (rest.length !== 2 || rest[1] !== 'version') {
        return { problem: `invalid reference ${shown}: expected artifacts.NAME.version` };
      }
      const name = rest[0]!;
      if (!ctx.artifacts.has(name)) {
        const declared = ctx.artifacts.size
          ? ` (declared: ${[...ctx.artifacts].sort().join(', ')})`
          : ' (the flock declares no artifacts)';
        return {
          problem: `unknown artifact \`${name}\` in ${shown}${declared}${didYouMean(name, ctx.artifacts)}`,
        };
      }
      return { ref: { scope: 'artifact', name } };
    }
    case 'env': {
      if (rest.length !== 1) return { problem: `invalid reference ${shown}: expected env.NAME` };
      if (!ctx.allowEnv)
        return {
          problem: `${shown} is not allowed here: environment variables may only be used in \`providers\``,
        };
      return { ref: { scope: 'env', name: rest[0]! } };
    }
    default: {
      if (rest.length === 0) {
        const hint = ctx.resources.has(head) ? ` (did you mean \`\${${head}.id}\`?)` : '';
        return { problem: `unknown reference ${shown}: ${EXPECTED}${hint}` };
      }
      if (!ctx.allowResources) {
        return { problem: `${shown} is not allowed here: provider settings cannot refer to resources` };
      }
      if (!ctx.resources.has(head)) {
        return { problem: `unknown resource \`${head}\` in ${shown}${didYouMean(head, ctx.resources)}` };
      }
      return { ref: { scope: 'resource', name: head, path: rest } };
    }
  }
}
