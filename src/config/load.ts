/**
 * @module config/load — reads a flock directory (flock.yaml plus sibling *.yaml adding resources) into
 * the typed, located model. Every problem is collected with its file:line:column and thrown once, as
 * DroverError('CONFIG_INVALID', …, { problems }), so a user fixes everything in one pass.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { DroverError } from '../errors.ts';
import type { Problem, SourceLocation } from '../errors.ts';
import { findCycles, formatCycle } from '../graph/index.ts';
import type { TypeCatalog } from '../providers/types.ts';
import {
  artifactSchema,
  flockShape,
  PROVIDER_NAME_PATTERN,
  providerSchema,
  RESERVED_RESOURCE_NAMES,
  RESOURCE_NAME_PATTERN,
  resourceSchema,
  siblingShape,
  targetSchema,
} from './format.ts';
import type {
  ArtifactConfig,
  Expr,
  FlockConfig,
  ProviderConfig,
  Reference,
  ResourceConfig,
  TargetConfig,
  TargetSelector,
} from './model.ts';
import { putOwn } from './own.ts';
import { didYouMean } from './suggest.ts';
import { classifyReference, referenceStarts, splitTemplate } from './template.ts';
import type { ReferenceContext } from './template.ts';
import {
  findPath,
  keyLocation,
  locationAt,
  nodeLocation,
  parseSource,
  pathLocation,
  rawAt,
} from './yaml-source.ts';
import type { Path, SourceFile } from './yaml-source.ts';

export const FLOCK_FILE = 'flock.yaml';

export interface LoadOptions {
  /**
   * When given, every `${env.NAME}` in `providers` must be set in it (a problem otherwise), so
   * `drover validate` can catch a missing variable before a run does.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Reads and checks a flock directory. Throws CONFIG_NOT_FOUND or CONFIG_INVALID (with every problem). */
export async function loadFlock(
  dir: string,
  catalog: TypeCatalog,
  opts: LoadOptions = {},
): Promise<FlockConfig> {
  const files = await readFlockFiles(dir);
  return buildFlock(dir, files, catalog, opts);
}

interface RawFile {
  readonly name: string;
  readonly text: string;
}

async function readFlockFiles(dir: string): Promise<RawFile[]> {
  const notFound = (why: string): DroverError =>
    new DroverError('CONFIG_NOT_FOUND', `no ${FLOCK_FILE} in ${dir}: ${why}`, { details: { dir } });
  let names: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw notFound('not a directory');
    names = await readdir(dir);
  } catch (e) {
    if (e instanceof DroverError) throw e;
    throw notFound(
      (e as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'the directory does not exist'
        : String((e as Error).message),
    );
  }
  if (!names.includes(FLOCK_FILE)) throw notFound(`expected a file named ${FLOCK_FILE}`);
  const yamlNames = names.filter((n) => n.endsWith('.yaml') && !n.startsWith('.')).sort();
  const out: RawFile[] = [];
  for (const name of yamlNames) {
    const full = path.join(dir, name);
    const info = await stat(full);
    if (!info.isFile()) continue;
    out.push({ name, text: await readFile(full, 'utf8') });
  }
  return out;
}

/** sha256 over the config files' names and contents, in name order (local release ids derive from it). */
export function configDigest(files: readonly RawFile[]): string {
  const hash = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    hash.update(f.name).update('\0').update(f.text).update('\0');
  }
  return hash.digest('hex');
}

/** Collected problems, thrown together at the end. */
class Problems {
  readonly list: Problem[] = [];
  add(message: string, location: SourceLocation): void {
    this.list.push({ message, location });
  }
}

type Issue = z.core.$ZodIssue;

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
    case 'number':
    case 'bigint':
      return `the number ${String(v)}`;
    case 'boolean':
      return `the boolean ${String(v)}`;
    case 'object':
      return 'a map';
    default:
      return typeof v;
  }
}

function describeExpected(expected: string): string {
  switch (expected) {
    case 'object':
      return 'a map';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'int':
      return 'an integer';
    case 'boolean':
      return 'a boolean (true or false)';
    default:
      return expected;
  }
}

function formatPath(p: Path): string {
  let out = '';
  for (const seg of p) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

function getIn(value: unknown, p: readonly PropertyKey[]): unknown {
  let v = value;
  for (const seg of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = Object.prototype.hasOwnProperty.call(v, seg) ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  }
  return v;
}

/** The keys an object schema accepts at `p` inside `schema` (for "expected one of" and suggestions). */
function keysAt(schema: z.ZodType, p: readonly PropertyKey[]): string[] {
  let s: unknown = schema;
  const step = (x: unknown): unknown => (x as { _zod?: { def?: Record<string, unknown> } })?._zod?.def;
  const unwrap = (x: unknown): unknown => {
    for (let i = 0; i < 10; i++) {
      const def = step(x) as { type?: string; innerType?: unknown; in?: unknown } | undefined;
      if (
        def?.type === 'optional' ||
        def?.type === 'default' ||
        def?.type === 'nullable' ||
        def?.type === 'prefault' ||
        def?.type === 'readonly'
      ) {
        x = def.innerType;
      } else if (def?.type === 'pipe') x = def.in;
      else break;
    }
    return x;
  };
  for (const seg of p) {
    s = unwrap(s);
    const def = step(s) as
      { type?: string; shape?: Record<string, unknown>; element?: unknown; valueType?: unknown } | undefined;
    if (def?.type === 'object' && typeof seg === 'string') s = def.shape?.[seg];
    else if (def?.type === 'array') s = def.element;
    else if (def?.type === 'record') s = def.valueType;
    else return [];
  }
  const def = step(unwrap(s)) as { type?: string; shape?: Record<string, unknown> } | undefined;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape).sort() : [];
}

interface IssueContext {
  readonly src: SourceFile;
  readonly schema: z.ZodType;
  readonly input: unknown;
  /** Where `input` sits in the file. */
  readonly base: Path;
  /** 'key' for the flock format, 'property' for a type's properties. */
  readonly noun: 'key' | 'property';
  /** Says whose keys these are, e.g. `for sim.instance`. */
  readonly owner?: string;
}

/** Turns zod issues into located problems that say what was expected. */
function reportIssues(problems: Problems, ctx: IssueContext, issues: readonly Issue[]): void {
  for (const issue of issues) {
    const rel = issue.path as PropertyKey[];
    const full = [...ctx.base, ...(rel.filter((s) => typeof s !== 'symbol') as (string | number)[])];
    const where = full.length ? `${formatPath(full)}: ` : '';
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = keysAt(ctx.schema, rel);
        for (const key of issue.keys) {
          const expected = known.length ? ` (expected one of: ${known.join(', ')})` : '';
          const whose = ctx.owner ? ` ${ctx.owner}` : full.length ? '' : ' at the top level';
          problems.add(
            `${where}unknown ${ctx.noun} \`${key}\`${whose}${expected}${didYouMean(key, known)}`,
            keyLocation(ctx.src, [...full, key]),
          );
        }
        break;
      }
      case 'invalid_type': {
        const found = findPath(ctx.src, full);
        const value = getIn(ctx.input, rel);
        if (!found.complete && value === undefined) {
          const last = full[full.length - 1];
          const parent = full.slice(0, -1);
          problems.add(
            `${parent.length ? `${formatPath(parent)}: ` : ''}missing required ${ctx.noun} \`${String(last)}\` (expected ${describeExpected(issue.expected)})`,
            nodeLocation(ctx.src, found.node),
          );
        } else {
          problems.add(
            `${where}expected ${describeExpected(issue.expected)}, got ${describeValue(value)}`,
            nodeLocation(ctx.src, found.node),
          );
        }
        break;
      }
      case 'invalid_value': {
        const value = getIn(ctx.input, rel);
        problems.add(
          `${where}expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(value)}`,
          pathLocation(ctx.src, full),
        );
        break;
      }
      default:
        problems.add(`${where}${issue.message}`, pathLocation(ctx.src, full));
    }
  }
}

function check<T>(problems: Problems, ctx: IssueContext, schema: z.ZodType<T>): T | undefined {
  const r = schema.safeParse(ctx.input);
  if (r.success) return r.data;
  reportIssues(problems, { ...ctx, schema }, r.error.issues);
  return undefined;
}

function isMapValue(v: unknown): v is Record<string, unknown> {
  return (
    v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Set)
  );
}

function yamlErrorMessage(message: string): string {
  // yaml's pretty errors repeat the position and quote the source; the location says that already.
  const first = message.split('\n')[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?\s*$/, '');
}

interface ParsedFile {
  readonly src: SourceFile;
  readonly value: unknown;
}

/** Parses one file; YAML syntax errors are problems and the file's content is then not checked further. */
function parseFile(problems: Problems, dir: string, raw: RawFile): ParsedFile | undefined {
  const src = parseSource(path.join(dir, raw.name), raw.name, raw.text);
  if (src.doc.errors.length > 0) {
    for (const err of src.doc.errors) {
      const pos = err.linePos?.[0];
      problems.add(
        `invalid YAML: ${yamlErrorMessage(err.message)}`,
        pos ? { file: src.file, line: pos.line, column: pos.col } : locationAt(src, err.pos[0]),
      );
    }
    return undefined;
  }
  try {
    return { src, value: src.doc.toJS({ maxAliasCount: 1000 }) as unknown };
  } catch (e) {
    problems.add(`invalid YAML: ${(e as Error).message}`, locationAt(src, 0));
    return undefined;
  }
}

interface ResourceEntry {
  readonly name: string;
  readonly src: SourceFile;
  readonly raw: unknown;
  readonly path: Path;
}

function buildFlock(
  dir: string,
  files: readonly RawFile[],
  catalog: TypeCatalog,
  opts: LoadOptions,
): FlockConfig {
  const problems = new Problems();
  const digest = configDigest(files);
  const parsed = files.map((f) => ({ name: f.name, file: parseFile(problems, dir, f) }));

  let flockName: string | undefined;
  let description: string | undefined;
  let rollback: 'auto' | 'manual' = 'manual';
  const artifacts: ArtifactConfig[] = [];
  const targets: TargetConfig[] = [];
  const rawProviders: { name: string; value: Record<string, unknown>; src: SourceFile }[] = [];
  const resourceEntries: ResourceEntry[] = [];
  const resourceSeen = new Map<string, SourceLocation>();
  /** Target name → its index in `targets:`, for locating `after` entries. */
  const targetIndex = new Map<string, number>();

  const collectResources = (src: SourceFile, value: unknown): void => {
    const ctx: IssueContext = {
      src,
      schema: flockShape.resources,
      input: value,
      base: ['resources'],
      noun: 'key',
    };
    if (!isMapValue(value)) {
      check(problems, ctx, flockShape.resources);
      return;
    }
    for (const [name, raw] of Object.entries(value)) {
      const p: Path = ['resources', name];
      const loc = keyLocation(src, p);
      if (!RESOURCE_NAME_PATTERN.test(name)) {
        problems.add(
          `resources: invalid resource name \`${name}\`: expected a name matching [a-z_][a-z0-9_-]*`,
          loc,
        );
        continue;
      }
      if (RESERVED_RESOURCE_NAMES.includes(name)) {
        problems.add(
          `resources: \`${name}\` is reserved for \`\${${name}.…}\` references; choose another resource name`,
          loc,
        );
        continue;
      }
      const first = resourceSeen.get(name);
      if (first) {
        problems.add(
          `resources: resource \`${name}\` is declared twice: at ${formatLocation(first)} and at ${formatLocation(loc)}`,
          loc,
        );
        continue;
      }
      resourceSeen.set(name, loc);
      resourceEntries.push({ name, src, raw, path: p });
    }
  };

  let mainSrc: SourceFile | undefined;
  for (const { name, file } of parsed) {
    if (!file) continue;
    const { src, value } = file;
    const isMain = name === FLOCK_FILE;
    if (isMain) mainSrc = src;
    const shape: Record<string, z.ZodType> = isMain ? flockShape : siblingShape;
    if (!isMapValue(value)) {
      if (isMain || (value !== null && value !== undefined)) {
        const expected = isMain ? 'a map with at least `flock:`' : 'a map with `resources:`';
        problems.add(
          `expected ${expected}, got ${describeValue(value)}`,
          nodeLocation(src, src.doc.contents),
        );
      }
      continue;
    }
    for (const key of Object.keys(value)) {
      if (key in shape) continue;
      const known = Object.keys(shape);
      const why = isMain
        ? ` at the top level (expected one of: ${known.join(', ')})`
        : ` in ${name}: only \`resources:\` may be given outside ${FLOCK_FILE}`;
      problems.add(`unknown key \`${key}\`${why}${didYouMean(key, known)}`, keyLocation(src, [key]));
    }
    if (Object.prototype.hasOwnProperty.call(value, 'resources')) collectResources(src, value.resources);
    if (!isMain) continue;

    const ctx = (key: string): IssueContext => ({
      src,
      schema: flockShape[key as keyof typeof flockShape],
      input: value[key],
      base: [key],
      noun: 'key',
    });
    if (!Object.prototype.hasOwnProperty.call(value, 'flock')) {
      problems.add(
        'missing required key `flock` (expected the flock’s name, matching [a-z][a-z0-9-]{0,62})',
        nodeLocation(src, src.doc.contents),
      );
    } else {
      flockName = check(problems, ctx('flock'), flockShape.flock);
    }
    if (value.description !== undefined)
      description = check(problems, ctx('description'), flockShape.description);
    if (value.rollback !== undefined)
      rollback = check(problems, ctx('rollback'), flockShape.rollback) ?? 'manual';

    if (value.artifacts !== undefined) {
      const arts = value.artifacts;
      if (!isMapValue(arts)) check(problems, ctx('artifacts'), flockShape.artifacts);
      else
        for (const [name, raw] of Object.entries(arts)) {
          const p: Path = ['artifacts', name];
          if (!RESOURCE_NAME_PATTERN.test(name) || name === '__proto__') {
            problems.add(
              `artifacts: invalid artifact name \`${name}\`: expected a name matching [a-z_][a-z0-9_-]*`,
              keyLocation(src, p),
            );
            continue;
          }
          const a = check(
            problems,
            { src, schema: artifactSchema, input: raw, base: p, noun: 'key' },
            artifactSchema,
          );
          if (a) artifacts.push({ name, kind: a.kind, location: keyLocation(src, p) });
        }
    }

    if (value.targets !== undefined) {
      const list = value.targets;
      if (!Array.isArray(list)) check(problems, ctx('targets'), flockShape.targets);
      else {
        const seen = new Map<string, SourceLocation>();
        list.forEach((raw, i) => {
          const p: Path = ['targets', i];
          const t = check(
            problems,
            { src, schema: targetSchema, input: raw, base: p, noun: 'key' },
            targetSchema,
          );
          if (!t) return;
          const nameLoc = pathLocation(src, [...p, 'name']);
          const first = seen.get(t.name);
          if (first) {
            problems.add(
              `targets[${i}].name: duplicate target name \`${t.name}\` (first declared at ${formatLocation(first)})`,
              nameLoc,
            );
            return;
          }
          seen.set(t.name, nameLoc);
          targetIndex.set(t.name, i);
          targets.push({
            name: t.name,
            realm: t.realm,
            tenancy: t.tenancy,
            region: t.region,
            ...(t.ad !== undefined ? { ad: t.ad } : {}),
            approval: t.approval,
            after: [...new Set(t.after)],
            location: pathLocation(src, p),
          });
        });
      }
    }

    if (value.providers !== undefined) {
      const provs = value.providers;
      if (!isMapValue(provs)) check(problems, ctx('providers'), flockShape.providers);
      else {
        const known = new Set(catalog.types().map((t) => t.type.split('.')[0]!));
        for (const [name, raw] of Object.entries(provs)) {
          const p: Path = ['providers', name];
          if (!PROVIDER_NAME_PATTERN.test(name)) {
            problems.add(
              `providers: invalid provider name \`${name}\`: expected a name matching [a-z][a-z0-9_]*`,
              keyLocation(src, p),
            );
            continue;
          }
          if (!known.has(name)) {
            problems.add(
              `providers: unknown provider \`${name}\` (known: ${[...known].sort().join(', ')})${didYouMean(name, known)}`,
              keyLocation(src, p),
            );
            continue;
          }
          const settings = check(
            problems,
            { src, schema: providerSchema, input: raw, base: p, noun: 'key' },
            providerSchema,
          );
          if (settings) rawProviders.push({ name, value: settings, src });
        }
      }
    }
  }

  // Target ordering: `after` names known targets and has no cycles.
  const targetNames = new Set(targets.map((t) => t.name));
  if (mainSrc) {
    const src = mainSrc;
    targets.forEach((t) => {
      const i = targetIndex.get(t.name)!;
      const rawAfter = findPath(src, ['targets', i, 'after']).node?.toJSON() as unknown;
      t.after.forEach((dep) => {
        if (targetNames.has(dep)) return;
        const j = Array.isArray(rawAfter) ? rawAfter.indexOf(dep) : -1;
        problems.add(
          `targets[${i}].after: unknown target \`${dep}\` (targets: ${[...targetNames].sort().join(', ')})${didYouMean(dep, targetNames)}`,
          pathLocation(src, ['targets', i, 'after', j]),
        );
      });
    });
    const byName = new Map(targets.map((t) => [t.name, t]));
    for (const cycle of findCycles(
      targets.map((t) => t.name),
      targets.flatMap((t) => t.after.map((to) => ({ from: t.name, to }))),
    )) {
      problems.add(`targets: cycle in \`after\`: ${formatCycle(cycle)}`, byName.get(cycle[0]!)!.location);
    }
  }

  // Resources: structure, type, properties, references.
  const artifactNames = new Set(artifacts.map((a) => a.name));
  const resourceNames = new Set(resourceEntries.map((r) => r.name));
  const resources: ResourceConfig[] = [];
  const resourceCtx: ReferenceContext = {
    allowEnv: false,
    allowResources: true,
    resources: resourceNames,
    artifacts: artifactNames,
  };
  for (const entry of resourceEntries) {
    const { src, name } = entry;
    const r = check(
      problems,
      { src, schema: resourceSchema, input: entry.raw, base: entry.path, noun: 'key' },
      resourceSchema,
    );
    if (!r) continue;
    const propsPath: Path = [...entry.path, 'properties'];
    const properties: Record<string, Expr> = {};
    const referenced = new Set<string>();
    for (const [key, raw] of Object.entries(r.properties)) {
      const expr = toExpr(problems, src, raw, [...propsPath, key], resourceCtx);
      putOwn(properties, key, expr);
      for (const ref of referencesOf(expr)) if (ref.scope === 'resource') referenced.add(ref.name);
    }

    const type = catalog.get(r.type);
    if (!type) {
      const known = catalog.types().map((t) => t.type);
      problems.add(
        `${formatPath([...entry.path, 'type'])}: unknown resource type \`${r.type}\`${didYouMean(r.type, known) || ` (known types: ${[...known].sort().join(', ')})`}`,
        pathLocation(src, [...entry.path, 'type']),
      );
    } else {
      checkProperties(problems, src, type.type, type.schema, properties, propsPath);
    }

    r.depends_on.forEach((dep, i) => {
      if (resourceNames.has(dep)) return;
      problems.add(
        `${formatPath([...entry.path, 'depends_on'])}: unknown resource \`${dep}\`${didYouMean(dep, resourceNames)}`,
        pathLocation(src, [...entry.path, 'depends_on', i]),
      );
    });

    let selector: TargetSelector | undefined;
    if (r.targets) {
      selector = Object.fromEntries(
        Object.entries(r.targets).filter(([, v]) => v !== undefined),
      ) as TargetSelector;
      (r.targets.names ?? []).forEach((t, i) => {
        if (targetNames.has(t) || !mainSrc) return;
        problems.add(
          `${formatPath([...entry.path, 'targets', 'names'])}: unknown target \`${t}\`${didYouMean(t, targetNames)}`,
          pathLocation(src, [...entry.path, 'targets', 'names', i]),
        );
      });
    }

    resources.push({
      name,
      type: r.type,
      properties,
      dependsOn: [...new Set([...r.depends_on.filter((d) => resourceNames.has(d)), ...referenced])].sort(),
      forceOnRelease: r.force_on_release,
      ...(selector ? { targets: selector } : {}),
      location: keyLocation(src, entry.path),
    });
  }

  const resourceByName = new Map(resources.map((r) => [r.name, r]));
  for (const cycle of findCycles(
    resources.map((r) => r.name),
    resources.flatMap((r) => r.dependsOn.map((to) => ({ from: r.name, to }))),
  )) {
    problems.add(
      `resources: dependency cycle: ${formatCycle(cycle)}`,
      resourceByName.get(cycle[0]!)!.location,
    );
  }

  const providers: Record<string, ProviderConfig> = {};
  const providerCtx: ReferenceContext = {
    allowEnv: true,
    allowResources: false,
    resources: resourceNames,
    artifacts: artifactNames,
  };
  for (const { name, value, src } of rawProviders) {
    const settings: Record<string, Expr> = {};
    for (const [key, raw] of Object.entries(value)) {
      const p: Path = ['providers', name, key];
      const expr = toExpr(problems, src, raw, p, providerCtx);
      putOwn(settings, key, expr);
      if (opts.env) {
        for (const ref of referencesOf(expr)) {
          if (ref.scope === 'env' && opts.env[ref.name] === undefined) {
            problems.add(
              `providers.${name}.${key}: environment variable \`${ref.name}\` is not set (referenced by \`${ref.text}\`)`,
              ref.location,
            );
          }
        }
      }
    }
    providers[name] = { name, settings, location: keyLocation(src, ['providers', name]) };
  }

  if (problems.list.length > 0 || flockName === undefined) {
    const list = sortProblems(problems.list);
    // The message is a summary; the problems (each located) are the detail CLIs and the API print.
    const summary = `${list.length} problem${list.length === 1 ? '' : 's'} in the flock config in ${dir}`;
    throw new DroverError('CONFIG_INVALID', summary, {
      problems: list,
      details: { dir },
    });
  }

  return {
    flock: flockName,
    ...(description !== undefined ? { description } : {}),
    dir: path.resolve(dir),
    digest,
    rollback,
    artifacts,
    targets,
    providers,
    resources: Object.fromEntries(resources.map((r) => [r.name, r])),
  };
}

function formatLocation(l: SourceLocation): string {
  return `${l.file}:${l.line}:${l.column}`;
}

function sortProblems(list: readonly Problem[]): Problem[] {
  const key = (p: Problem): [string, number, number] => [
    p.location?.file ?? '',
    p.location?.line ?? 0,
    p.location?.column ?? 0,
  ];
  return [...list].sort((a, b) => {
    const [fa, la, ca] = key(a);
    const [fb, lb, cb] = key(b);
    return fa < fb ? -1 : fa > fb ? 1 : la - lb || ca - cb;
  });
}

/**
 * Validates a resource's properties against its type's zod schema. A property holding a reference
 * cannot be type-checked before its value exists, so it is only checked to be a known property.
 */
function checkProperties(
  problems: Problems,
  src: SourceFile,
  typeName: string,
  schema: z.ZodType,
  properties: Readonly<Record<string, Expr>>,
  base: Path,
): void {
  const dynamic = new Set<string>();
  const input: Record<string, unknown> = {};
  for (const [key, expr] of Object.entries(properties)) {
    if (expr.kind === 'literal') input[key] = expr.value;
    else {
      dynamic.add(key);
      input[key] = undefined;
    }
  }
  let result: ReturnType<typeof schema.safeParse>;
  try {
    result = schema.safeParse(input);
  } catch (e) {
    // A provider's refinement that throws is a bug there, but must not hide the config's problems.
    problems.add(
      `${formatPath(base)}: the ${typeName} schema failed: ${(e as Error).message}`,
      pathLocation(src, base),
    );
    return;
  }
  if (result.success) return;
  const issues = result.error.issues.filter((issue) => {
    const head = issue.path[0];
    if (typeof head === 'string' && dynamic.has(head)) return false;
    // Whole-object refinements cannot be judged while some values are unknown.
    if (issue.path.length === 0 && issue.code !== 'unrecognized_keys' && dynamic.size > 0) return false;
    return true;
  });
  reportIssues(problems, { src, schema, input, base, noun: 'property', owner: `for ${typeName}` }, issues);
}

/** Every reference in an expression, in order. */
export function referencesOf(expr: Expr): Reference[] {
  switch (expr.kind) {
    case 'literal':
      return [];
    case 'ref':
      return [expr.ref];
    case 'template':
      return expr.parts.filter((p): p is Reference => typeof p !== 'string');
    case 'list':
      return expr.items.flatMap(referencesOf);
    case 'object':
      return Object.values(expr.entries).flatMap(referencesOf);
    default: {
      const never: never = expr;
      return never;
    }
  }
}

/** A YAML value → Expr, parsing `${...}` in strings. Values without references are literals. */
function toExpr(problems: Problems, src: SourceFile, value: unknown, at: Path, ctx: ReferenceContext): Expr {
  if (typeof value === 'string') return stringExpr(problems, src, value, at, ctx);
  if (Array.isArray(value)) {
    const items = value.map((v, i) => toExpr(problems, src, v, [...at, i], ctx));
    return items.every((i) => i.kind === 'literal')
      ? { kind: 'literal', value: items.map((i) => (i as { value: unknown }).value) }
      : { kind: 'list', items };
  }
  if (isMapValue(value)) {
    const entries: Record<string, Expr> = {};
    for (const [k, v] of Object.entries(value)) putOwn(entries, k, toExpr(problems, src, v, [...at, k], ctx));
    const all = Object.values(entries);
    return all.every((e) => e.kind === 'literal')
      ? {
          kind: 'literal',
          value: Object.fromEntries(
            Object.entries(entries).map(([k, e]) => [k, (e as { value: unknown }).value]),
          ) as unknown,
        }
      : { kind: 'object', entries };
  }
  return { kind: 'literal', value };
}

function stringExpr(
  problems: Problems,
  src: SourceFile,
  value: string,
  at: Path,
  ctx: ReferenceContext,
): Expr {
  if (!value.includes('${')) return { kind: 'literal', value };
  const split = splitTemplate(value);
  // Map the Nth `${` of the value to the Nth in the source text, so locations point into the string.
  const raw = rawAt(src, at);
  const rawStarts = raw ? referenceStarts(raw.raw) : [];
  const valueStarts = referenceStarts(value);
  const locate = (index: number): SourceLocation => {
    const n = valueStarts.indexOf(index);
    if (raw && n !== -1 && rawStarts.length === valueStarts.length)
      return locationAt(src, raw.start + rawStarts[n]!);
    return pathLocation(src, at);
  };
  const where = `${formatPath(at)}: `;
  if (split.unterminated) {
    problems.add(
      `${where}unterminated \`\${\` (expected \`}\` to close it)`,
      locate(split.unterminated.index),
    );
  }
  const parts: (string | Reference)[] = [];
  let ok = !split.unterminated;
  for (const piece of split.pieces) {
    if (piece.kind === 'text') {
      parts.push(piece.text);
      continue;
    }
    const location = locate(piece.index);
    const c = classifyReference(piece.inner, ctx);
    if ('problem' in c) {
      problems.add(`${where}${c.problem}`, location);
      ok = false;
      continue;
    }
    parts.push({ ...c.ref, text: piece.text, location } as Reference);
  }
  if (!ok) return { kind: 'literal', value };
  const refs = parts.filter((p): p is Reference => typeof p !== 'string');
  if (refs.length === 0) return { kind: 'literal', value: parts.join('') };
  if (parts.length === 1 && refs.length === 1) return { kind: 'ref', ref: refs[0]! };
  return { kind: 'template', parts };
}
