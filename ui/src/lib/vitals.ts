// A running session's vitals as the window shows them: durations typed into the launcher (the
// same rules as `berth_core::limits`, so the launcher blocks what the engine would refuse),
// the countdown to a limit, and sparklines drawn from a ring of recent samples.
import type { LimitEnd, ServerCheck, SessionLimits, SessionStats } from "./bindings";

/** The longest limit: a year, as in Rust. */
const MAX_LIMIT_SECS = 365 * 24 * 3600;
/** The shortest idle timeout: idleness is judged from samples 5 s apart. */
const MIN_IDLE_SECS = 10;
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

export type ParsedDuration = { secs: number | null; error: string | null };

/**
 * `45s`, `30m`, `8h`, `1h30m` as seconds; empty is no limit (null). `field` names it in the
 * error ("Lifetime").
 */
export function parseDuration(field: string, text: string): ParsedDuration {
  const compact = text.replace(/\s+/g, "").toLowerCase();
  if (compact === "") return { secs: null, error: null };
  const refuse = (why: string): ParsedDuration => ({
    secs: null,
    error: `${field} "${text.trim()}" ${why}: write a number and a unit, such as 45s, 30m, 8h or 1h30m.`,
  });
  if (compact.startsWith("-")) return refuse("is negative");
  let total = 0;
  let digits = "";
  for (const c of compact) {
    if (c >= "0" && c <= "9") {
      digits += c;
      continue;
    }
    const unit = UNITS[c];
    if (unit === undefined) return refuse(`has '${c}', which is not a unit`);
    if (digits === "") return refuse("has a unit without a number before it");
    total += Number(digits) * unit;
    digits = "";
  }
  if (digits !== "") return refuse("ends in a number without a unit");
  const min = field === "Idle timeout" ? MIN_IDLE_SECS : 1;
  if (total < min) {
    return {
      secs: null,
      error: min === 1 ? `${field} must be longer than zero.` : `${field} of ${describeDuration(total)} is too short: give at least ${describeDuration(min)}.`,
    };
  }
  if (total > MAX_LIMIT_SECS) return { secs: null, error: `${field} of ${describeDuration(total)} is longer than a year: leave it out for no limit.` };
  return { secs: total, error: null };
}

/** Seconds back as the launcher's field shows them: `1h30m`, `45s`. */
export function durationInput(secs: number | null | undefined): string {
  if (secs === null || secs === undefined) return "";
  let left = secs;
  let text = "";
  for (const [unit, size] of [["d", 86_400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (left >= size) {
      text += `${Math.floor(left / size)}${unit}`;
      left %= size;
    }
  }
  return text || "0s";
}

/** "45 s", "30 min", "1 h 30 min": the two largest units, as Rust says it in reasons. */
export function describeDuration(secs: number): string {
  const parts: string[] = [];
  let left = Math.max(0, Math.floor(secs));
  for (const [name, size] of [["d", 86_400], ["h", 3600], ["min", 60], ["s", 1]] as const) {
    if (left >= size && parts.length < 2) {
      parts.push(`${Math.floor(left / size)} ${name}`);
      left %= size;
    } else if (parts.length > 0) break;
  }
  return parts.length === 0 ? "0 s" : parts.join(" ");
}

/** `30 min idle · 8 h lifetime`, or null without limits. */
export function limitsSummary(limits: SessionLimits | undefined): string | null {
  const parts: string[] = [];
  if (limits?.idle_timeout_secs) parts.push(`ends after ${describeDuration(limits.idle_timeout_secs)} idle`);
  if (limits?.lifetime_secs) parts.push(`lives ${describeDuration(limits.lifetime_secs)} at most`);
  return parts.length === 0 ? null : parts.join(" · ");
}

/** The time left as a clock: `9:05`, `1:02:03`; `0:00` once it is due. */
export function countdown(endsAtMs: number, now: number): string {
  const secs = Math.max(0, Math.ceil((endsAtMs - now) / 1000));
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/** `Ends in 9:05 (idle)`: the drawer's and the list's words for a coming end. */
export function endsLabel(ends: LimitEnd, now: number): string {
  const why = ends.kind === "idle" ? "idle" : "lifetime";
  // Due: the sampler's next round (within 5 s) ends it.
  return ends.at_ms <= now ? `Ending now (${why})` : `Ends in ${countdown(ends.at_ms, now)} (${why})`;
}

/** How long a session has been idle by its idle end (0 for a lifetime end). */
export function idleFor(ends: LimitEnd, now: number): number {
  return ends.kind === "idle" ? Math.max(0, now - (ends.at_ms - ends.limit_secs * 1000)) : 0;
}

/**
 * Whether a countdown is worth showing: a lifetime always; an idle timeout once the session
 * has been idle for a few samples — a busy session's idle clock restarts every 5 s, and a
 * clock that keeps jumping back reads as a fault.
 */
export function countingDown(ends: LimitEnd, now: number): boolean {
  return ends.kind === "lifetime" || idleFor(ends, now) >= 15_000;
}

/** Whether the end is close enough to be warned about (see `LimitEnd::warn_from_ms`). */
export function endsSoon(ends: LimitEnd, now: number): boolean {
  return now >= ends.warn_from_ms;
}

/** Appends `value`, dropping the oldest past `capacity`: a ring that never grows. */
export function pushRing<T>(ring: T[], value: T, capacity: number): T[] {
  ring.push(value);
  if (ring.length > capacity) ring.splice(0, ring.length - capacity);
  return ring;
}

/**
 * SVG polyline points for `values` in a `width`×`height` box, the newest at the right edge,
 * `max` at the top (at least the largest value, so a spike never leaves the box).
 */
export function sparkPoints(values: readonly number[], width: number, height: number, capacity: number, max: number): string {
  if (values.length === 0) return "";
  const top = Math.max(max, ...values, 1e-9);
  const step = width / Math.max(1, capacity - 1);
  const start = width - step * (values.length - 1);
  return values
    .map((v, i) => `${(start + i * step).toFixed(1)},${(height - (Math.max(0, v) / top) * height).toFixed(1)}`)
    .join(" ");
}

/** The server's check that ends a session first, if any sets an end. */
export function firstServerEnd(checks: readonly ServerCheck[] | undefined): ServerCheck | null {
  let first: ServerCheck | null = null;
  for (const check of checks ?? []) {
    if (check.ends_at_ms !== null && (first === null || check.ends_at_ms < (first.ends_at_ms ?? Infinity))) first = check;
  }
  return first;
}

/** One server check in words: `its lifetime: ends in 58:12`, `network activity: no end set`. */
export function serverCheckLabel(check: ServerCheck, now: number): string {
  if (check.grace_until_ms !== null && check.grace_until_ms > now) return `${check.what}: not checked for ${countdown(check.grace_until_ms, now)} yet`;
  if (check.ends_at_ms === null) return `${check.what}: no end set`;
  return check.ends_at_ms <= now ? `${check.what}: ending now` : `${check.what}: ends in ${countdown(check.ends_at_ms, now)}`;
}

/**
 * Storage read and written per second between consecutive samples (bytes/s), one per sample
 * after the first; a counter that went back (processes ended, taking their counts) reads 0.
 */
export function ioRates(history: readonly SessionStats[]): number[] {
  const rates: number[] = [];
  for (let i = 1; i < history.length; i++) {
    const seconds = (history[i].sampled_at_ms - history[i - 1].sampled_at_ms) / 1000;
    const moved = history[i].read_bytes + history[i].write_bytes - (history[i - 1].read_bytes + history[i - 1].write_bytes);
    rates.push(seconds > 0 ? Math.max(0, moved) / seconds : 0);
  }
  return rates;
}
