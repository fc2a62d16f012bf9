/**
 * @module config/yaml-source — one parsed config file with the means to turn any YAML node, key or
 * path into a 1-based file:line:column, so every problem points where the user must look.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node } from 'yaml';
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
  // uniqueKeys: a key given twice in one map is an error (yaml's default, stated for the reader).
  const doc = parseDocument(text, {
    lineCounter: lines,
    uniqueKeys: true,
    prettyErrors: true,
    logLevel: 'error',
  });
  return { file, name, text, doc, lines };
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
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const k = pair.key as Node | null;
        const kv = isScalar(k) ? k.value : k;
        if (kv !== null && kv !== undefined && String(kv) === String(seg)) {
          nextKey = k;
          next = (pair.value as Node | null) ?? k;
        }
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
