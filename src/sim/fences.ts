/**
 * @module sim/fences — the service side of fencing (SPEC.md §5): per task, the highest lease token seen.
 *
 * A call carrying a lower token comes from a worker whose lease was taken over; it is refused, which
 * stops a call that slipped out of a paused or partitioned worker just before its proxy cut it off.
 */
export type FenceHeader = { readonly task: string; readonly token: number };

export type FenceParse =
  | { readonly ok: true; readonly fence: FenceHeader | null }
  | { readonly ok: false; readonly message: string };

/** Parses `TASK:TOKEN` (the task id may itself hold colons; the token is after the last one). */
export function parseFence(value: string | undefined): FenceParse {
  if (value === undefined || value === '') return { ok: true, fence: null };
  const at = value.lastIndexOf(':');
  const task = value.slice(0, at);
  const tokenText = value.slice(at + 1);
  if (at <= 0 || !/^\d{1,15}$/.test(tokenText))
    return {
      ok: false,
      message: `Drover-Fence must be TASK_ID:TOKEN with a non-negative integer token, got "${value.slice(0, 100)}"`,
    };
  return { ok: true, fence: { task, token: Number(tokenText) } };
}

export class FenceTable {
  private readonly highest = new Map<string, number>();

  /** Records the token; returns the highest seen before when this one is lower (stale), else undefined. */
  admit(f: FenceHeader): number | undefined {
    const prior = this.highest.get(f.task);
    if (prior !== undefined && f.token < prior) return prior;
    if (prior === undefined || f.token > prior) this.highest.set(f.task, f.token);
    return undefined;
  }

  clear(): void {
    this.highest.clear();
  }
}
