/**
 * @module store/group-commit — writes that arrive while another is in flight go together in the next
 * round trip: one statement for the whole group, so one transaction, one flush and one message to the
 * database instead of one each.
 *
 * The first write of a quiet period goes at once, so a lone caller waits no longer than it would alone.
 * Each caller's promise settles only once its own write is committed (a group is committed whole or
 * not at all). If a group fails, its writes are retried one by one, so a bad write fails only its own
 * caller. Hand-written: it is a dozen lines bound to this module's "one statement per group" contract,
 * and a general batching library would bring timers and knobs this does not want.
 */
export type GroupWriter<I, O> = (item: I) => Promise<O>;

/**
 * `run(items)` writes the items in one statement and answers one output per item, in order; `max`
 * bounds a group (and so how long the first of a burst waits).
 */
export function groupCommit<I, O>(
  run: (items: readonly I[]) => Promise<readonly O[]>,
  max: number,
): GroupWriter<I, O> {
  const pending: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  let flushing = false;

  const one = async (item: I): Promise<O> => {
    const out = await run([item]);
    if (out.length !== 1) throw new Error(`group commit: 1 write answered ${out.length} results`);
    return out[0]!;
  };

  const flush = async (): Promise<void> => {
    flushing = true;
    try {
      while (pending.length > 0) {
        const group = pending.splice(0, max);
        let out: readonly O[];
        try {
          out = await run(group.map((g) => g.item));
        } catch (e) {
          if (group.length === 1) group[0]!.reject(e);
          else for (const g of group) await one(g.item).then(g.resolve, g.reject);
          continue;
        }
        if (out.length !== group.length) {
          // Committed, but not as promised: nobody is told "written" (nor is anything written again).
          const e = new Error(`group commit: ${group.length} writes answered ${out.length} results`);
          for (const g of group) g.reject(e);
          continue;
        }
        group.forEach((g, i) => g.resolve(out[i]!));
      }
    } finally {
      flushing = false;
    }
  };

  return (item) =>
    new Promise<O>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (!flushing) void flush();
    });
}
