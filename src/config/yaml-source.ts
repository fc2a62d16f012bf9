/**
 * @module config/yaml-source — one parsed config file with the means to turn any YAML node, key or
 * path into a 1-based file:line:column, so every problem points where the user must look.
 */
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  YAMLParseError,
} from 'yaml';
import type { Document, Node, Pair, YAMLMap } from 'yaml';
import type { SourceLocation } from '../errors.ts';

export type Path = readonly (string | number)[];

export interface SourceFile {
  /** The path problems name (the flock dir joined with the file name, as the user gave the dir). */
  readonly file: string;
  /** The file's base name (used for ordering and the digest). */
  readonly name: string;
  readonly text: string;
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
}

export function parseSource(file: string, name: string, text: string): SourceFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    // A key given twice in one map is an error, checked below: yaml's own check compares each key
    // with every key before it, which made a 10,000-resource flock take seconds to parse.
    uniqueKeys: false,
    prettyErrors: true,
    logLevel: 'error',
  });
  if (doc.errors.length === 0) checkUniqueKeys(doc);
  return { file, name, text, doc, lines };
}

/**
 * yaml's `uniqueKeys: true` in one pass: in every map, a scalar key equal (same type and value) to an
 * earlier one is a DUPLICATE_KEY error at the later key, with yaml's own message.
 */
function checkUniqueKeys(doc: Document.Parsed): void {
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const k = pair.key;
        if (!isScalar(k)) continue;
        if (seen.has(k.value)) {
          const start = k.range?.[0] ?? 0;
          doc.errors.push(new YAMLParseError([start, start + 1], 'DUPLICATE_KEY', 'Map keys must be unique'));
        }
        seen.add(k.value);
      }
    },
  });
}

export function locationAt(src: SourceFile, offset: number): SourceLocation {
  const safe = Math.max(0, Math.min(offset, src.text.length));
  const { line, col } = src.lines.linePos(safe);
  return { file: src.file, line, column: col };
}

export function nodeLocation(src: SourceFile, node: Node | null | undefined): SourceLocation {
  const start = node?.range?.[0];
  return locationAt(src, start ?? 0);
}

export interface Found {
  /** The deepest node reached on the path (the document's root if nothing matched). */
  readonly node: Node | null;
  /** The key node of the last map entry reached, if the last step went through a map. */
  readonly key: Node | null;
  /** True when the whole path was found. */
  readonly complete: boolean;
}

/**
 * Each map's entries by key, built on the first lookup in it: the loader asks for the location of
 * every resource, so a linear scan of `resources:` per lookup made loading a 10,000-resource flock
 * quadratic (seconds, and tens of MB of garbage). Parsed documents are never changed afterwards. The
 * last entry of a key wins, as the scan did (duplicate keys are an error anyway).
 */
const mapIndex = new WeakMap<YAMLMap, Map<string, Pair>>();

function entryOf(map: YAMLMap, seg: string | number): Pair | undefined {
  let index = mapIndex.get(map);
  if (!index) {
    index = new Map();
    for (const pair of map.items) {
      if (!isPair(pair)) continue;
      const k = pair.key as Node | null;
      const kv = isScalar(k) ? k.value : k;
      if (kv !== null && kv !== undefined) index.set(String(kv), pair as Pair);
    }
    mapIndex.set(map, index);
  }
  return index.get(String(seg));
}

/** Follows a JS-value path (as zod reports it) through the YAML nodes, resolving aliases. */
export function findPath(src: SourceFile, path: Path): Found {
  let node: Node | null = (src.doc.contents as Node | null) ?? null;
  let key: Node | null = null;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    node = deref(src, node);
    let next: Node | null | undefined;
    let nextKey: Node | null = null;
    if (isMap(node)) {
      const pair = entryOf(node, seg);
      if (pair) {
        nextKey = pair.key as Node | null;
        next = (pair.value as Node | null) ?? nextKey;
      }
    } else if (isSeq(node) && typeof seg === 'number') {
      next = node.items[seg] as Node | undefined;
    }
    if (next === undefined || next === null) return { node, key, complete: false };
    node = next;
    key = nextKey;
  }
  return { node: deref(src, node), key, complete: true };
}

function deref(src: SourceFile, node: Node | null): Node | null {
  // Aliases are followed once per step; yaml rejects alias loops when it builds the document.
  if (isAlias(node)) return (node.resolve(src.doc) as Node | undefined) ?? node;
  return node;
}

/** Location of the value at `path`, or of the nearest enclosing node when it is missing. */
export function pathLocation(src: SourceFile, path: Path): SourceLocation {
  return nodeLocation(src, findPath(src, path).node);
}

/** Location of the key of the map entry at `path` (its value's when there is no key node). */
export function keyLocation(src: SourceFile, path: Path): SourceLocation {
  const found = findPath(src, path);
  return nodeLocation(src, found.complete ? (found.key ?? found.node) : found.node);
}

/** The raw source text of the node at `path` and where it starts, for locating `${` inside strings. */
export function rawAt(src: SourceFile, path: Path): { raw: string; start: number } | undefined {
  const found = findPath(src, path);
  const range = found.complete ? found.node?.range : undefined;
  if (!range) return undefined;
  return { raw: src.text.slice(range[0], range[1]), start: range[0] };
}
