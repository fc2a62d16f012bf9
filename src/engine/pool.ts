/**
 * @module engine/pool — bounded parallelism for refresh (a flat list; apply has its own DAG scheduler).
 */

/**
 * Runs fn over items that may arrive over time, with at most `limit` in flight: `push` them as they
 * come, then `finish()`, which resolves once all have run and rejects with the first error after all
 * in flight settled. After an error no further item is started.
 */
export class Lanes<T> {
  private readonly items: T[] = [];
  private next = 0;
  private running = 0;
  private failed = false;
  private firstError: unknown;
  private finished: (() => void) | null = null;

  constructor(
    private readonly limit: number,
    private readonly fn: (item: T) => Promise<void> | void,
  ) {}

  push(batch: readonly T[]): void {
    for (const item of batch) this.items.push(item);
    while (this.running < this.limit && this.next < this.items.length && !this.failed) {
      this.running++;
      void this.lane();
    }
  }

  /** Starts nothing more; `finish()` then rejects with `reason` (unless an item failed first). */
  halt(reason: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.firstError = reason;
  }

  async finish(): Promise<void> {
    if (this.running > 0) await new Promise<void>((resolve) => (this.finished = resolve));
    if (this.failed) throw this.firstError;
  }

  private async lane(): Promise<void> {
    while (this.next < this.items.length && !this.failed) {
      const item = this.items[this.next++] as T;
      try {
        await this.fn(item);
      } catch (e) {
        if (!this.failed) {
          this.failed = true;
          this.firstError = e;
        }
      }
    }
    this.running--;
    if (this.running === 0) this.finished?.();
  }
}

/** Runs fn over items with at most `limit` in flight; rejects with the first error after all settle. */
export async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const lanes = new Lanes(limit, fn);
  lanes.push(items);
  await lanes.finish();
}
