/**
 * @module scheduler/http-state-backend — the engine's StateBackend for a task running on a worker: the
 * server's fenced state routes (/api/v1/tasks/{id}/state…), reached through the given HttpClient (the
 * signing proxy, which adds the bearer token and `Drover-Fence`). The server confines a task to the
 * state of its own (flock, target) and refuses it once its lease token is stale.
 */
import { DroverError, ErrorCodes, type ErrorCode } from '../errors.ts';
import type {
  Intent,
  ResourceState,
  StateBackend,
  StateChange,
  StateSnapshot,
} from '../engine/state-types.ts';
import type { HttpClient, HttpResponse } from '../providers/types.ts';
import { TransientError } from '../providers/types.ts';

/** Tries of one state call before the apply fails (backoff 200 ms … 2 s: about 7 s in all). */
const STATE_CALL_ATTEMPTS = 6;

export interface HttpStateBackendOptions {
  readonly http: HttpClient;
  /** The server's base URL (e.g. http://127.0.0.1:7800), as the task addresses it. */
  readonly serverUrl: string;
  readonly taskId: string;
}

/** The server's answer for a non-2xx status, as a DroverError with the server's code when it sent one. */
export function errorFromResponse(res: HttpResponse, what: string): DroverError {
  const err = (res.body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)
    ?.error;
  const code =
    typeof err?.code === 'string' && err.code in ErrorCodes
      ? (err.code as ErrorCode)
      : res.status >= 500
        ? 'STORE_UNAVAILABLE'
        : 'INTERNAL';
  const message = typeof err?.message === 'string' ? err.message : `${what} answered HTTP ${res.status}`;
  return new DroverError(code, message, {
    details: { status: res.status, ...(typeof err?.code === 'string' ? { remoteCode: err.code } : {}) },
  });
}

export class HttpStateBackend implements StateBackend {
  private readonly base: string;

  constructor(private readonly opts: HttpStateBackendOptions) {
    this.base = `${opts.serverUrl.replace(/\/+$/, '')}/api/v1/tasks/${encodeURIComponent(opts.taskId)}/state`;
  }

  private url(path: string, flock: string, target: string): string {
    return `${this.base}${path}?flock=${encodeURIComponent(flock)}&target=${encodeURIComponent(target)}`;
  }

  /**
   * Every state route is safe to repeat (intents are upserts and deletes, a commit puts or removes one
   * address), so a call that had no answer (connection reset, timeout: TransientError) or a 502/503/504
   * is tried again with backoff instead of failing the whole apply over a blip between worker and server.
   * A refusal (LEASE_EXPIRED, STALE_FENCE) is not retried: the task is no longer entitled to write.
   */
  private async call(
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    url: string,
    body?: unknown,
  ): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.callOnce(method, url, body);
      } catch (e) {
        const transient =
          e instanceof TransientError ||
          (e instanceof DroverError && [502, 503, 504].includes(Number(e.details['status'])));
        if (!transient || attempt >= STATE_CALL_ATTEMPTS) throw e;
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
      }
    }
  }

  private async callOnce(
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    url: string,
    body?: unknown,
  ): Promise<unknown> {
    const res = await this.opts.http.request({
      method,
      url,
      headers: {
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body } : {}),
    });
    if (res.status < 200 || res.status >= 300) throw errorFromResponse(res, `${method} ${url}`);
    return res.body;
  }

  async load(flock: string, target: string): Promise<StateSnapshot> {
    const body = (await this.call('GET', this.url('', flock, target))) as {
      lineage: string;
      serial: number;
      resources: ResourceState[];
      intents: Intent[];
    };
    if (!body || !Array.isArray(body.resources) || !Array.isArray(body.intents)) {
      throw new DroverError('INTERNAL', 'the server answered the state load without resources/intents');
    }
    return {
      flock,
      target,
      lineage: body.lineage,
      serial: Number(body.serial),
      resources: new Map(body.resources.map((r) => [r.address, r])),
      intents: new Map(body.intents.map((i) => [i.address, i])),
    };
  }

  async putIntent(flock: string, target: string, intent: Intent): Promise<void> {
    await this.call('PUT', this.url(`/intents/${encodeURIComponent(intent.address)}`, flock, target), intent);
  }

  async commit(
    flock: string,
    target: string,
    change: StateChange,
    opts: { clearIntent?: boolean } = {},
  ): Promise<number> {
    const body = (await this.call('POST', this.url('/commit', flock, target), {
      change,
      clearIntent: opts.clearIntent === true,
    })) as {
      serial?: unknown;
    };
    if (typeof body?.serial !== 'number')
      throw new DroverError('INTERNAL', 'the server answered a state commit without a serial');
    return body.serial;
  }

  async clearIntent(flock: string, target: string, address: string): Promise<void> {
    await this.call('DELETE', this.url(`/intents/${encodeURIComponent(address)}`, flock, target));
  }
}
