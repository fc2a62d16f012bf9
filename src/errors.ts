/**
 * @module errors — every stable error code Drover publishes, with its HTTP status and CLI exit code.
 *
 * Codes are public (SPEC.md §8): once published, a code is never renamed or reused for another meaning.
 * Exit codes: 0 success, 1 the operation failed, 2 invalid input or usage, 3 conflict.
 */

export const ExitCode = {
  OK: 0,
  FAILED: 1,
  INVALID: 2,
  CONFLICT: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

interface CodeSpec {
  readonly status: number;
  readonly exit: ExitCode;
  readonly summary: string;
}

/** The registry. Keep it sorted by area; docs/errors.md is checked against it by a test. */
export const ErrorCodes = {
  // config (SPEC §2) — every config error exits 2
  CONFIG_INVALID: { status: 400, exit: 2, summary: 'the flock config has one or more errors' },
  CONFIG_NOT_FOUND: { status: 400, exit: 2, summary: 'no flock.yaml in the given directory' },
  USAGE: { status: 400, exit: 2, summary: 'invalid command-line usage or flag value' },
  ARTIFACT_VERSION_MISSING: { status: 400, exit: 2, summary: 'a flock artifact was given no version' },
  TARGET_UNKNOWN: { status: 404, exit: 2, summary: 'no such target in the flock' },
  PLAN_FILE_INVALID: { status: 400, exit: 2, summary: 'the saved plan file cannot be read or is not a plan' },
  VALIDATION: { status: 400, exit: 2, summary: 'a request body or parameter is invalid' },
  NOT_FOUND: { status: 404, exit: 1, summary: 'no such object' },

  // engine (SPEC §3)
  PLAN_STALE: {
    status: 409,
    exit: 3,
    summary: 'the saved plan was made against a state that has changed since',
  },
  PLAN_DIVERGED: {
    status: 409,
    exit: 1,
    summary: 'a fresh plan holds an operation the approved plan did not',
  },
  APPLY_FAILED: { status: 500, exit: 1, summary: 'one or more resource operations failed' },
  PROVIDER_ERROR: { status: 502, exit: 1, summary: 'a provider call failed permanently' },
  PROVIDER_TRANSIENT: {
    status: 503,
    exit: 1,
    summary: 'a provider call kept failing transiently past the retry budget',
  },
  APPROVAL_DENIED: { status: 403, exit: 1, summary: 'a drover.approval resource was not approved' },
  STATE_LOCKED: { status: 409, exit: 3, summary: 'another process holds the state of this target' },
  EXECUTION_IN_PROGRESS: { status: 409, exit: 3, summary: 'an execution is already running on this target' },

  // store (SPEC §8)
  STORE_UNAVAILABLE: { status: 503, exit: 1, summary: 'the database cannot be reached or opened' },
  STORE_MIGRATION: { status: 500, exit: 1, summary: 'the database schema could not be migrated' },

  // simulator and signing (SPEC §4)
  SIGNATURE_INVALID: {
    status: 401,
    exit: 1,
    summary: 'the request is unsigned, badly signed, replayed or clock-skewed',
  },
  STALE_FENCE: {
    status: 409,
    exit: 1,
    summary: 'the lease token is lower than the highest seen for the task',
  },
  NAME_TAKEN: { status: 409, exit: 1, summary: 'a resource with that unique name exists already' },
  SIM_FAULT: { status: 503, exit: 1, summary: 'an injected fault or outage' },
  CREDENTIALS_MISSING: {
    status: 500,
    exit: 2,
    summary: 'DROVER_SIM_ACCESS_KEY / DROVER_SIM_SECRET_KEY are not set',
  },

  // scheduler, workers, proxy (SPEC §5)
  LEASE_EXPIRED: { status: 403, exit: 1, summary: 'the worker lease is not valid; the call was refused' },
  TASK_NOT_FOUND: { status: 404, exit: 1, summary: 'no such task' },
  WORKER_UNKNOWN: { status: 404, exit: 1, summary: 'no such worker (register first)' },
  TASK_CANCELLED: { status: 409, exit: 1, summary: 'the task was cancelled or killed' },
  TASK_ENDED: { status: 409, exit: 1, summary: 'the task has ended already; it cannot be controlled' },
  UNAUTHORIZED: { status: 401, exit: 1, summary: 'missing or invalid bearer token' },
  FORBIDDEN: { status: 403, exit: 1, summary: 'the token lacks the role for this action' },
  SERVER_UNREACHABLE: { status: 503, exit: 1, summary: 'the Drover server cannot be reached' },
  UPSTREAM_UNREACHABLE: {
    status: 502,
    exit: 1,
    summary: 'the signing proxy could not reach the destination of a task call, or it did not answer in time',
  },

  INTERNAL: { status: 500, exit: 1, summary: 'an unexpected internal error (a bug: please report it)' },
} as const satisfies Record<string, CodeSpec>;

export type ErrorCode = keyof typeof ErrorCodes;

/** Where in a config file a problem is. Lines and columns are 1-based. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** One problem; config errors are collected as a list of these. */
export interface Problem {
  readonly message: string;
  readonly location?: SourceLocation;
}

export class DroverError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;
  readonly problems: readonly Problem[];

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; problems?: readonly Problem[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DroverError';
    this.code = code;
    this.details = options.details ?? {};
    this.problems = options.problems ?? [];
  }

  get status(): number {
    return ErrorCodes[this.code].status;
  }

  get exitCode(): ExitCode {
    return ErrorCodes[this.code].exit;
  }

  /** The API's error body (SPEC §8). */
  toJSON(): { error: { code: ErrorCode; message: string; details?: unknown; problems?: unknown } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(Object.keys(this.details).length ? { details: this.details } : {}),
        ...(this.problems.length ? { problems: this.problems } : {}),
      },
    };
  }
}

export function isDroverError(e: unknown): e is DroverError {
  return e instanceof DroverError;
}

/** Formats a problem as `file:line:col: message` (the form editors jump to). */
export function formatProblem(p: Problem): string {
  return p.location ? `${p.location.file}:${p.location.line}:${p.location.column}: ${p.message}` : p.message;
}

/** Wraps anything thrown into a DroverError without losing a known code. */
export function toDroverError(e: unknown): DroverError {
  if (e instanceof DroverError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new DroverError('INTERNAL', message, { cause: e });
}
