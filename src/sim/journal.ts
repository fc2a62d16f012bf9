/**
 * @module sim/journal — the record of every mutating call, accepted or refused (SPEC.md §4).
 *
 * Tests prove from it that no two workers mutated on behalf of the same task at overlapping times:
 * `started` is when the request arrived, `at` when it was answered; the action happened in between.
 */
export interface JournalEntry {
  /** 1, 2, 3 … in answer order; `GET /_journal?since=N` returns entries after N. */
  readonly seq: number;
  readonly started: string;
  readonly at: string;
  /** From `Drover-Fence: TASK:TOKEN`; null when absent. */
  readonly task: string | null;
  readonly token: number | null;
  /** From `Drover-Worker`; null when absent. */
  readonly worker: string | null;
  /** `create` | `update` | `delete` | `deploy`, or `METHOD` for a call that matched no route. */
  readonly operation: string;
  /** The resource id when known, else the request path. */
  readonly resource: string;
  readonly kind: string | null;
  readonly region: string | null;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** The error code of a refused call. */
  readonly code?: string;
}

/** Caps memory in long runs; the oldest entries go first. */
const MAX_ENTRIES = 1_000_000;

export class Journal {
  private entries: JournalEntry[] = [];
  private seq = 0;

  add(e: Omit<JournalEntry, 'seq'>): void {
    this.seq += 1;
    this.entries.push({ seq: this.seq, ...e });
    if (this.entries.length > MAX_ENTRIES) this.entries.splice(0, this.entries.length - MAX_ENTRIES);
  }

  list(filter: { since?: number; task?: string } = {}): JournalEntry[] {
    let out = this.entries;
    if (filter.since !== undefined) {
      const since = filter.since;
      out = out.filter((e) => e.seq > since);
    }
    if (filter.task !== undefined) {
      const task = filter.task;
      out = out.filter((e) => e.task === task);
    }
    return out;
  }

  clear(): void {
    this.entries = [];
  }
}
