/**
 * @module signing/replay-cache — remembers signatures already accepted, so a captured request cannot be
 * sent again while its timestamp is still within the allowed skew.
 *
 * Memory is bounded. Entries expire when their request could no longer pass the skew check anyway. When
 * the cache is full, the oldest entry is evicted and its expiry becomes a *floor*: any request expiring at
 * or before the floor is refused as a possible replay. So overflow fails closed (a few legitimate requests
 * dated in the same second may be refused under extreme load), never open.
 */
export interface ReplayCacheOptions {
  /** Default 200,000 signatures (~30 MB at worst). */
  readonly maxEntries?: number;
}

export class ReplayCache {
  private readonly maxEntries: number;
  /** signature → expiry (ms since epoch). Map order is insertion order, which is roughly expiry order. */
  private readonly seen = new Map<string, number>();
  private floorMs = -Infinity;

  constructor(opts: ReplayCacheOptions = {}) {
    this.maxEntries = Math.max(1, opts.maxEntries ?? 200_000);
  }

  get size(): number {
    return this.seen.size;
  }

  /**
   * Records `signature` until `expiresAtMs`. Returns false if it was seen before (a replay) or falls
   * under the overflow floor; true if this is its first sighting.
   */
  remember(signature: string, expiresAtMs: number, nowMs: number = Date.now()): boolean {
    this.sweep(nowMs);
    if (expiresAtMs <= this.floorMs) return false;
    const prior = this.seen.get(signature);
    if (prior !== undefined && prior > nowMs) return false;
    if (prior !== undefined) this.seen.delete(signature);
    while (this.seen.size >= this.maxEntries) {
      const oldest = this.seen.entries().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest[0]);
      if (oldest[1] > this.floorMs) this.floorMs = oldest[1];
    }
    this.seen.set(signature, expiresAtMs);
    return true;
  }

  clear(): void {
    this.seen.clear();
    this.floorMs = -Infinity;
  }

  /** Drops expired entries from the front; stops at the first live one (amortised O(1) per call). */
  private sweep(nowMs: number): void {
    for (const [sig, exp] of this.seen) {
      if (exp > nowMs) return;
      this.seen.delete(sig);
    }
  }
}
