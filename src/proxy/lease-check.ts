/**
 * @module proxy/lease-check — the signing proxy's decision "may this task's call go out now?", as a pure
 * state machine over an injected clock (SPEC.md §5). No I/O here: the proxy feeds it events and readings.
 *
 * STATE MACHINE
 *
 *   Inputs (each with a ClockReading { mono, wall } taken by the caller at the event):
 *     onSend(seq, t)      a heartbeat with this seq is about to leave for the scheduler.
 *     onAck(ack, t)       the scheduler answered heartbeat `ack.seq`; the caller has ALREADY verified the
 *                         ack's HMAC (a forged ack never reaches this machine).
 *     onLoss(seq, t)      heartbeat `seq` failed (no answer, error status, bad signature): forget it.
 *     check(t)            a periodic tick (the proxy runs one every 250 ms): clock-jump detection only.
 *     isValid(task, t)    the per-request decision → { ok: true, token } | { ok: false, reason }.
 *
 *   State:
 *     pending: seq → reading at send         (heartbeats on the wire, not yet acknowledged)
 *     lease:   { seq, send reading, validUntil (mono), tasks: task → token } | none
 *     last:    the last reading seen         (for the consecutive-reading jump check)
 *
 *   Transitions:
 *     onSend:   pending[seq] = t.
 *     onAck:    accepted only if ack.seq is pending, belongs to this worker, and is newer than the
 *               current lease's seq; then lease = { seq, send, validUntil = send.mono + ttl − margin,
 *               tasks = ack.tasks }, and every pending seq ≤ ack.seq is dropped. The window is counted
 *               from the SEND, never from the ack's arrival: the scheduler received the heartbeat at or
 *               after the send, so its lease (receipt + ttl) outlives ours by at least `margin`.
 *     onLoss:   pending.delete(seq).
 *     isValid:  ok iff no clock jump, lease exists, t.mono < validUntil, and the task is in lease.tasks
 *               (its token is the one returned; a caller holding an older token is refused).
 *
 *   Clock jumps (fail closed): on EVERY input, compare wall and monotonic deltas (a) since the last
 *   reading and (b) since the send of the heartbeat backing the lease, and at onAck since that heartbeat's
 *   send (and the boot clock's delta too, where the host has one). If they disagree by more than `jumpThresholdMs` (a suspend stops CLOCK_MONOTONIC but not the
 *   wall clock; an NTP step moves only the wall clock), the lease AND every pending send are dropped.
 *   Only an ack of a heartbeat sent after the jump can open the gate again — "fail closed until the next
 *   acknowledgement". Because (b) is cumulative since the send, many small suspends cannot add up past
 *   the threshold unnoticed; with jumpThresholdMs ≤ margin, an undetected suspend is covered by the margin.
 *   A monotonic reading that goes backwards is treated as a jump too.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/**
 * One reading of the clocks, in milliseconds. `mono` never jumps and stops during a system suspend
 * (CLOCK_MONOTONIC); `wall` is Date.now(); `boot`, where the host has it (Linux /proc/uptime,
 * CLOCK_BOOTTIME), keeps counting through a suspend and is never stepped — so a suspend is seen even if an
 * NTP step of the wall clock happened to cancel it out.
 */
export interface ClockReading {
  readonly mono: number;
  readonly wall: number;
  readonly boot?: number;
}

/** The signed acknowledgement body (its `sig` is checked before it gets here). */
export interface LeaseAck {
  readonly worker_id: string;
  readonly seq: number;
  readonly issued_at?: string;
  readonly lease_ttl_ms: number;
  readonly lease_expires_at?: string;
  readonly tasks: readonly { readonly task_id: string; readonly token: number | string }[];
}

export interface LeaseParams {
  readonly workerId: string;
  /** Fallback when an ack carries no usable lease_ttl_ms. */
  readonly leaseTtlMs: number;
  /** Subtracted from every window (default 1 s, SPEC §5). */
  readonly marginMs: number;
  /** Wall vs monotonic disagreement that counts as a jump; keep ≤ marginMs (see the block above). */
  readonly jumpThresholdMs: number;
}

export type Refusal = 'no-lease' | 'expired' | 'not-covered' | 'clock-jump' | 'stale-token';

export type Decision =
  | { readonly ok: true; readonly token: string; readonly validUntil: number }
  | { readonly ok: false; readonly reason: Refusal };

export type AckOutcome = 'accepted' | 'unknown-seq' | 'older' | 'wrong-worker' | 'clock-jump';

interface Lease {
  readonly seq: number;
  readonly send: ClockReading;
  readonly validUntil: number;
  readonly tasks: ReadonlyMap<string, string>;
}

/** The jump threshold the proxy uses when not told otherwise: 1 s, but never above the margin. */
export function defaultJumpThreshold(marginMs: number): number {
  return Math.max(50, Math.min(1000, marginMs));
}

export class LeaseCheck {
  private readonly pending = new Map<number, ClockReading>();
  private lease: Lease | null = null;
  private last: ClockReading | null = null;
  /** Set when a jump dropped everything; cleared by the next accepted ack (diagnostics only). */
  private jumped = false;
  private params: LeaseParams;

  constructor(params: LeaseParams) {
    this.params = params;
  }

  /** Worker id or timing changes after (re-)registration; the current lease is dropped (fail closed). */
  reset(params: LeaseParams): void {
    this.params = params;
    this.pending.clear();
    this.lease = null;
  }

  onSend(seq: number, t: ClockReading): void {
    this.observe(t);
    this.pending.set(seq, t);
    this.prune(t);
  }

  onAck(ack: LeaseAck, t: ClockReading): AckOutcome {
    this.observe(t);
    if (ack.worker_id !== this.params.workerId) return 'wrong-worker';
    const send = this.pending.get(ack.seq);
    if (!send) return 'unknown-seq';
    if (this.lease && ack.seq <= this.lease.seq) {
      this.pending.delete(ack.seq);
      return 'older';
    }
    // The heartbeat's whole round trip must be free of jumps, or its send reading means nothing.
    if (skew(send, t) > this.params.jumpThresholdMs) {
      this.failClosed();
      return 'clock-jump';
    }
    const ttl =
      Number.isFinite(ack.lease_ttl_ms) && ack.lease_ttl_ms > 0 ? ack.lease_ttl_ms : this.params.leaseTtlMs;
    const tasks = new Map<string, string>();
    for (const entry of ack.tasks) tasks.set(entry.task_id, String(entry.token));
    this.lease = { seq: ack.seq, send, validUntil: send.mono + ttl - this.params.marginMs, tasks };
    for (const seq of [...this.pending.keys()]) if (seq <= ack.seq) this.pending.delete(seq);
    this.jumped = false;
    return 'accepted';
  }

  onLoss(seq: number, t: ClockReading): void {
    this.observe(t);
    this.pending.delete(seq);
  }

  /** Periodic tick: only jump detection. Returns true when the gate is open for anyone. */
  check(t: ClockReading): boolean {
    this.observe(t);
    return this.lease !== null && t.mono < this.lease.validUntil;
  }

  /**
   * The decision for one request. `token`, when given, is the token the task's endpoint was opened with:
   * an ack naming a different (newer) token means the task moved on without this process.
   */
  isValid(taskId: string, t: ClockReading, token?: string): Decision {
    if (this.observe(t)) return { ok: false, reason: 'clock-jump' };
    const lease = this.lease;
    if (!lease) return { ok: false, reason: this.jumped ? 'clock-jump' : 'no-lease' };
    if (!(t.mono < lease.validUntil)) return { ok: false, reason: 'expired' };
    const current = lease.tasks.get(taskId);
    if (current === undefined) return { ok: false, reason: 'not-covered' };
    if (token !== undefined && token !== current) return { ok: false, reason: 'stale-token' };
    return { ok: true, token: current, validUntil: lease.validUntil };
  }

  /** Monotonic instant until which the current lease holds (null: none). For timers. */
  validUntil(): number | null {
    return this.lease?.validUntil ?? null;
  }

  /** For diagnostics and the worker: what the gate currently believes. */
  snapshot(): {
    seq: number | null;
    validUntil: number | null;
    tasks: Record<string, string>;
    jumped: boolean;
    pending: number;
  } {
    return {
      seq: this.lease?.seq ?? null,
      validUntil: this.lease?.validUntil ?? null,
      tasks: Object.fromEntries(this.lease?.tasks ?? []),
      jumped: this.jumped,
      pending: this.pending.size,
    };
  }

  /** Runs the jump checks; returns true when a jump was detected now (everything has been dropped). */
  private observe(t: ClockReading): boolean {
    const last = this.last;
    this.last = t;
    const threshold = this.params.jumpThresholdMs;
    const jumped =
      (last !== null && (t.mono < last.mono || skew(last, t) > threshold)) ||
      (this.lease !== null && skew(this.lease.send, t) > threshold);
    if (jumped) this.failClosed();
    return jumped;
  }

  private failClosed(): void {
    this.lease = null;
    this.pending.clear();
    this.jumped = true;
  }

  /** Sends older than a whole lease can never grant anything; forget them so the map stays small. */
  private prune(t: ClockReading): void {
    const horizon = this.params.leaseTtlMs * 4;
    for (const [seq, send] of this.pending) if (t.mono - send.mono > horizon) this.pending.delete(seq);
  }
}

/** The larger of |Δwall − Δmono| and |Δboot − Δmono| between two readings. */
function skew(from: ClockReading, to: ClockReading): number {
  const dMono = to.mono - from.mono;
  const wall = Math.abs(to.wall - from.wall - dMono);
  if (from.boot === undefined || to.boot === undefined) return wall;
  return Math.max(wall, Math.abs(to.boot - from.boot - dMono));
}

/** /proc/uptime, opened once (null: the host has none); re-read in place for every reading. */
let uptimeFd: number | null | undefined;
const uptimeBuf = Buffer.alloc(64);

/**
 * CLOCK_BOOTTIME in ms from /proc/uptime (10 ms resolution), or undefined where there is none. Every
 * request the proxy lets out takes a reading, so the file stays open and each reading is one pread at
 * offset 0 (the kernel renders the file afresh): ~2 µs instead of ~8 µs for open, read and close.
 */
function bootMs(): number | undefined {
  if (uptimeFd === null) return undefined;
  try {
    uptimeFd ??= openSync('/proc/uptime', 'r');
    const n = readSync(uptimeFd, uptimeBuf, 0, uptimeBuf.length, 0);
    const seconds = Number.parseFloat(uptimeBuf.toString('latin1', 0, n));
    if (Number.isFinite(seconds)) return seconds * 1000;
  } catch {
    // fall through: no boot clock on this host
  }
  if (uptimeFd !== undefined) {
    try {
      closeSync(uptimeFd);
    } catch {
      // already unusable
    }
  }
  uptimeFd = null;
  return undefined;
}

/** The real clocks: monotonic from performance.now (CLOCK_MONOTONIC), wall from Date, boot from /proc. */
export function realClock(): ClockReading {
  const boot = bootMs();
  return boot === undefined
    ? { mono: performance.now(), wall: Date.now() }
    : { mono: performance.now(), wall: Date.now(), boot };
}
