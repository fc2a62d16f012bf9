/**
 * @module scheduler/timing — every timing parameter of leases in one place, with why it has its value
 * (SPEC.md §5). Server options override these; so do environment variables (tests shorten them).
 *
 * The safety argument, in one line: the proxy stops letting calls out at (heartbeat SENT + lease_ttl −
 * margin) on its own clock; the scheduler counts the lease from the heartbeat's RECEIPT (never earlier
 * than the send), marks the worker unhealthy at receipt + lease_ttl, and reassigns only at receipt +
 * lease_ttl + lease_grace. A call let out just before the proxy's cutoff ends within upstream_timeout,
 * and upstream_timeout < lease_grace, so it has drained before another worker gets the task.
 */

export interface Timing {
  /**
   * How often a worker heartbeats. 2 s: five heartbeats fit in one lease, so one or two lost or slow
   * heartbeats never cost a lease, while a dead worker is noticed within lease_ttl.
   */
  readonly heartbeatMs: number;
  /**
   * How long one acknowledged heartbeat keeps the lease valid. 10 s: long enough to ride out a GC pause,
   * a slow database commit or a brief network hiccup (several heartbeats), short enough that a dead
   * worker's task moves on within ~15 s.
   */
  readonly leaseTtlMs: number;
  /**
   * Quarantine between marking a worker unhealthy and reassigning its tasks. 5 s: greater than
   * upstreamTimeoutMs, so any request a proxy let out just before its cutoff has finished (or been cut)
   * before another worker acts for the same task.
   */
  readonly leaseGraceMs: number;
  /**
   * The proxy's safety margin: it treats a lease as ending marginMs early. 1 s covers the send → receipt
   * delay of the heartbeat (the scheduler counts from receipt, the proxy from send) plus clock-rate drift.
   */
  readonly marginMs: number;
  /** Hard timeout of the proxy's upstream calls. 4 s < leaseGraceMs (see above). */
  readonly upstreamTimeoutMs: number;
  /** How often each server process runs the expire / reassign / assign sweeps. */
  readonly sweepMs: number;
  /** Upper bound of a worker's long poll (wait_ms is clamped to this). */
  readonly pollMaxMs: number;
  /** An unhealthy worker is shown as `gone` after this long without a heartbeat. */
  readonly goneAfterMs: number;
}

export const DEFAULT_TIMING: Timing = {
  heartbeatMs: 2_000,
  leaseTtlMs: 10_000,
  leaseGraceMs: 5_000,
  marginMs: 1_000,
  upstreamTimeoutMs: 4_000,
  sweepMs: 500,
  pollMaxMs: 30_000,
  goneAfterMs: 60_000,
};

/** Environment variable for each parameter. */
export const TIMING_ENV: Readonly<Record<keyof Timing, string>> = {
  heartbeatMs: 'DROVER_HEARTBEAT_MS',
  leaseTtlMs: 'DROVER_LEASE_TTL_MS',
  leaseGraceMs: 'DROVER_LEASE_GRACE_MS',
  marginMs: 'DROVER_PROXY_MARGIN_MS',
  upstreamTimeoutMs: 'DROVER_UPSTREAM_TIMEOUT_MS',
  sweepMs: 'DROVER_SWEEP_MS',
  pollMaxMs: 'DROVER_POLL_MAX_MS',
  goneAfterMs: 'DROVER_WORKER_GONE_MS',
};

/**
 * Defaults ← environment ← explicit options. Throws (a plain Error; callers wrap it as USAGE) when a
 * value is not a positive integer or the values break the safety argument above.
 */
export function resolveTiming(
  overrides: Partial<Timing> = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): Timing {
  const out: Record<string, number> = { ...DEFAULT_TIMING };
  for (const key of Object.keys(DEFAULT_TIMING) as (keyof Timing)[]) {
    const raw = env[TIMING_ENV[key]];
    if (raw !== undefined && raw !== '') {
      const n = Number(raw);
      if (!Number.isInteger(n) || n <= 0)
        throw new Error(`${TIMING_ENV[key]} must be a positive integer (ms), got ${raw}`);
      out[key] = n;
    }
    const o = overrides[key];
    if (o !== undefined) {
      if (!Number.isInteger(o) || o <= 0)
        throw new Error(`timing.${key} must be a positive integer (ms), got ${o}`);
      out[key] = o;
    }
  }
  const t = out as unknown as Timing;
  if (t.upstreamTimeoutMs >= t.leaseGraceMs) {
    throw new Error(
      `upstream timeout (${t.upstreamTimeoutMs} ms) must be shorter than lease grace (${t.leaseGraceMs} ms)`,
    );
  }
  if (t.heartbeatMs + t.marginMs >= t.leaseTtlMs) {
    throw new Error(
      `heartbeat (${t.heartbeatMs} ms) + margin (${t.marginMs} ms) must be shorter than lease ttl (${t.leaseTtlMs} ms)`,
    );
  }
  return t;
}
