/**
 * @module sim/options — simulator options: what callers give (`SimOptions`) → defaults applied
 * (`CompiledSimOptions`). Bad values are refused here with USAGE, before anything listens.
 */
import { DroverError } from '../errors.ts';

export interface OutageWindow {
  /** Seconds after the simulator started. */
  readonly startS: number;
  readonly durationS: number;
}

export interface SimOptions {
  /** 0 (the default) picks an ephemeral port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Added before every resource API answer. Default 0. */
  readonly latencyMs?: number;
  /** Latency varies uniformly by ± this. Default 0. */
  readonly jitterMs?: number;
  /** Fraction (0..1) of resource API requests answered 500/503 before acting. Default 0. */
  readonly errorRate?: number;
  /** How long a new resource stays PROVISIONING. Default 0 (AVAILABLE at once). */
  readonly provisionMs?: number;
  /** Windows in which every resource API and health request gets 503. */
  readonly outages?: readonly OutageWindow[];
  /** Access key id → secret. At least one pair. */
  readonly keys: Readonly<Record<string, string>>;
  /** Seeds ids, jitter and faults for repeatable runs. Default: random. */
  readonly seed?: number;
  /** Allowed clock difference of signed requests. Default 5 min. */
  readonly maxSkewMs?: number;
  /** Base of instances' `health_url`. Default: the URL the simulator listens on. */
  readonly publicUrl?: string;
  /** Longest a health check of an unreachable instance is held before its socket is dropped. Default 60 s. */
  readonly unreachableHoldMs?: number;
}

export interface CompiledSimOptions {
  readonly port: number;
  readonly host: string;
  readonly latencyMs: number;
  readonly jitterMs: number;
  readonly errorRate: number;
  readonly provisionMs: number;
  readonly outages: readonly OutageWindow[];
  readonly keys: ReadonlyMap<string, string>;
  readonly seed: number;
  readonly maxSkewMs: number;
  readonly publicUrl: string | undefined;
  readonly unreachableHoldMs: number;
}

function nonNegative(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < 0) throw new DroverError('USAGE', `${name} must be a number >= 0, got ${v}`);
  return v;
}

export function compileSimOptions(o: SimOptions): CompiledSimOptions {
  const port = nonNegative('port', o.port, 0);
  if (!Number.isInteger(port) || port > 65535)
    throw new DroverError('USAGE', `port must be an integer 0..65535, got ${port}`);
  const errorRate = nonNegative('errorRate', o.errorRate, 0);
  if (errorRate > 1) throw new DroverError('USAGE', `errorRate must be between 0 and 1, got ${errorRate}`);
  const keys = new Map(
    Object.entries(o.keys ?? {}).filter(([k, s]) => k !== '' && typeof s === 'string' && s !== ''),
  );
  if (keys.size === 0)
    throw new DroverError('CREDENTIALS_MISSING', 'the simulator needs at least one access key pair');
  const outages = (o.outages ?? []).map((w) => ({
    startS: nonNegative('outage start', w.startS, 0),
    durationS: nonNegative('outage duration', w.durationS, 0),
  }));
  return {
    port,
    host: o.host ?? '127.0.0.1',
    latencyMs: nonNegative('latencyMs', o.latencyMs, 0),
    jitterMs: nonNegative('jitterMs', o.jitterMs, 0),
    errorRate,
    provisionMs: nonNegative('provisionMs', o.provisionMs, 0),
    outages,
    keys,
    seed: o.seed ?? Math.floor(Math.random() * 0x100000000),
    maxSkewMs: nonNegative('maxSkewMs', o.maxSkewMs, 5 * 60_000),
    publicUrl: o.publicUrl?.replace(/\/+$/, ''),
    unreachableHoldMs: nonNegative('unreachableHoldMs', o.unreachableHoldMs, 60_000),
  };
}
