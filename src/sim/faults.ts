/**
 * @module sim/faults — injected faults: per instance, per deployed version, per region (`POST /_faults`).
 *
 * `unhealthy`: health checks answer 503. `unreachable`: a region's resource API answers 503 and health
 * checks of affected instances never answer (the caller's timeout fires, as with a dead host).
 * `healthy`: clears the fault on that target.
 */
export type FaultTarget = 'instance' | 'version' | 'region';
export type FaultMode = 'unhealthy' | 'unreachable';

export interface Fault {
  readonly target: FaultTarget;
  readonly id?: string;
  readonly version?: string;
  readonly region?: string;
  readonly mode: FaultMode;
}

export type FaultRequest =
  | { readonly ok: true; readonly key: string; readonly fault: Fault | null }
  | { readonly ok: false; readonly message: string };

const TARGETS: readonly FaultTarget[] = ['instance', 'version', 'region'];
const MODES = ['unhealthy', 'unreachable', 'healthy'] as const;

/** Validates a `POST /_faults` body. `fault: null` means "clear the fault on this key". */
export function parseFaultRequest(body: unknown): FaultRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, message: 'the body must be a JSON object' };
  const b = body as Record<string, unknown>;
  const unknownKeys = Object.keys(b).filter(
    (k) => !['target', 'id', 'version', 'region', 'mode'].includes(k),
  );
  if (unknownKeys.length) return { ok: false, message: `unknown field(s): ${unknownKeys.join(', ')}` };
  const target = b['target'];
  if (typeof target !== 'string' || !TARGETS.includes(target as FaultTarget))
    return { ok: false, message: `target: must be one of ${TARGETS.join(', ')}` };
  const mode = b['mode'];
  if (typeof mode !== 'string' || !(MODES as readonly string[]).includes(mode))
    return { ok: false, message: `mode: must be one of ${MODES.join(', ')}` };
  const field = target === 'instance' ? 'id' : target === 'version' ? 'version' : 'region';
  const value = b[field];
  if (typeof value !== 'string' || value === '')
    return { ok: false, message: `${field}: required (a non-empty string) for target ${target}` };
  const key = `${target}\u0000${value}`;
  if (mode === 'healthy') return { ok: true, key, fault: null };
  return { ok: true, key, fault: { target: target as FaultTarget, [field]: value, mode: mode as FaultMode } };
}

export class FaultTable {
  private readonly faults = new Map<string, Fault>();

  apply(req: Extract<FaultRequest, { ok: true }>): void {
    if (req.fault === null) this.faults.delete(req.key);
    else this.faults.set(req.key, req.fault);
  }

  list(): Fault[] {
    return [...this.faults.values()];
  }

  clear(): void {
    this.faults.clear();
  }

  get size(): number {
    return this.faults.size;
  }

  region(region: string): FaultMode | undefined {
    return this.size === 0 ? undefined : this.faults.get(`region\u0000${region}`)?.mode;
  }

  /** The worst fault affecting an instance: unreachable beats unhealthy. */
  instance(id: string, region: string, version: string | null): FaultMode | undefined {
    if (this.size === 0) return undefined;
    const modes = [
      this.faults.get(`instance\u0000${id}`)?.mode,
      version === null ? undefined : this.faults.get(`version\u0000${version}`)?.mode,
      this.faults.get(`region\u0000${region}`)?.mode,
    ];
    if (modes.includes('unreachable')) return 'unreachable';
    if (modes.includes('unhealthy')) return 'unhealthy';
    return undefined;
  }
}
