// The local sessions' latest vitals, as Rust samples them every few seconds (`VitalsSampled`):
// the list's sparklines and countdowns and the drawer's "Using now" read them from here. Only
// sessions in the latest round are kept, each with a fixed-size ring, so hours of sampling
// take no more memory than minutes.
import { events, type LimitEnd, type SessionStats, type SessionVitals } from "./bindings";
import { pushRing } from "./vitals";

/** Points in a list row's sparkline: five minutes at one sample every 5 s. */
export const SPARK_POINTS = 60;

export type LiveVitals = { stats: SessionStats | null; ends: LimitEnd | null; cpu: number[] };

export const liveVitals = $state<{ byId: Record<string, LiveVitals> }>({ byId: {} });

/** One sampling round: sessions missing from it have ended, and their vitals go. */
export function applyVitals(round: SessionVitals[]): void {
  const next: Record<string, LiveVitals> = {};
  for (const vital of round) {
    const before = liveVitals.byId[vital.session_id];
    const cpu = before ? [...before.cpu] : [];
    if (vital.stats) pushRing(cpu, vital.stats.cpu_percent, SPARK_POINTS);
    next[vital.session_id] = { stats: vital.stats ?? before?.stats ?? null, ends: vital.ends ?? null, cpu };
  }
  liveVitals.byId = next;
}

export function listenVitals(): Promise<() => void> {
  return events.vitalsSampled.listen(({ payload }) => applyVitals(payload.vitals));
}
