// How sessions read in the list and the drawer: elapsed time, which filter a status falls
// under, and a one-line summary of resources.
import type { NetworkMode, NewSession, ResourceRequest, Session, SessionStats, SessionStatus } from "./bindings";
import { humanBytes } from "./format";

export type SessionFilter = "running" | "finished";

/** Running = still holding a sandbox (or about to); finished = nothing left but the record. */
export function isLive(status: SessionStatus): boolean {
  return status === "preparing" || status === "running" || status === "terminating";
}

export function filterSessions(sessions: Session[], filter: SessionFilter): Session[] {
  return sessions.filter((s) => isLive(s.status) === (filter === "running"));
}

/** `42s`, `5m 03s`, `2h 05m`, `3d 4h`: short enough for a table cell, exact enough to watch. */
export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, "0");
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${pad(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${pad(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** How long the session has run (until now while live, until it ended otherwise). */
export function elapsedOf(session: Pick<Session, "created_at_ms" | "ended_at_ms">, now: number): number {
  return (session.ended_at_ms ?? now) - session.created_at_ms;
}

/** The resources asked for; `scratch` false where the engine decides it (a cluster). */
export function resourcesSummary(resources: ResourceRequest, scratch = true): string {
  const parts = [
    resources.cpus !== null ? `${resources.cpus} CPU${resources.cpus === 1 ? "" : "s"}` : "CPUs: default",
    resources.memory_bytes !== null ? `${humanBytes(resources.memory_bytes)} memory` : "memory: default",
  ];
  if (scratch) parts.push(resources.scratch_bytes !== null ? `${humanBytes(resources.scratch_bytes)} scratch` : "scratch: default");
  return parts.join(" · ");
}

/** The network choice as the launcher's review and the drawer name it. */
/** What launching `session` again asks for: its environment, type and command, resources,
 * network, runtime, variables, and the folders it picked at the places they were mounted (a
 * new name is picked; the always-mounted dot folders come by themselves). */
export function setupOf(session: Session): NewSession {
  return {
    name: null,
    session_type: session.session_type,
    environment: session.environment,
    mounts: session.mounts
      .filter((m) => !m.automount)
      .map((m) => ({ folder: m.folder_name, alias: m.target, access: m.read_only ? "read_only" : null })),
    command: session.command,
    runtime: session.runtime,
    network: session.network,
    resources: session.resources,
    environ: session.environ ?? [],
    project: null,
    resource_group: null,
    limits: session.limits,
  };
}

/** A setup as a key: two launches with the same key asked for the same thing. */
function setupKey(setup: NewSession): string {
  return JSON.stringify({ ...setup, name: null });
}

/**
 * The last `limit` different setups launched, newest first, each with the newest session that
 * used it; setups a template already holds are left to the template's row.
 */
export function recentSetups(sessions: Session[], templates: NewSession[], limit = 3): { setup: NewSession; session: Session }[] {
  const seen = new Set(templates.map(setupKey));
  const recent: { setup: NewSession; session: Session }[] = [];
  const newestFirst = [...sessions].sort((a, b) => b.created_at_ms - a.created_at_ms);
  for (const session of newestFirst) {
    const setup = setupOf(session);
    const key = setupKey(setup);
    if (seen.has(key)) continue;
    seen.add(key);
    recent.push({ setup, session });
    if (recent.length === limit) break;
  }
  return recent;
}

/** `CPU 98% · 12.3 MiB memory · read 0 B · written 4.0 KiB`: 100% is one core. */
export function usageSummary(stats: SessionStats): string {
  const cpu = stats.cpu_percent < 10 ? stats.cpu_percent.toFixed(1) : Math.round(stats.cpu_percent).toString();
  const gpu =
    stats.gpu_percent === undefined || stats.gpu_percent === null
      ? ""
      : ` · GPU ${Math.round(stats.gpu_percent)}%${stats.gpu_memory_bytes ? `, ${humanBytes(stats.gpu_memory_bytes)}` : ""}`;
  return `CPU ${cpu}% · ${humanBytes(stats.memory_bytes)} memory · read ${humanBytes(stats.read_bytes)} · written ${humanBytes(stats.write_bytes)}${gpu}`;
}

export function networkLabel(network: NetworkMode): string {
  switch (network) {
    case "outbound":
      return "Outbound (the outside world, not this computer's own services)";
    case "none":
      return "No network (loopback only)";
    case "host":
      return "Host network (everything this computer reaches)";
  }
}

/**
 * Sessions the engine found dead at this start: their supervisor stopped (the machine went
 * down, or it was killed) while nothing was watching. `seen` holds the ids already reported.
 */
export function endedUnwatched(sessions: Session[], seen: ReadonlySet<string>): Session[] {
  return sessions.filter(
    (s) => s.status === "error" && (s.status_detail ?? "").toLowerCase().includes("supervisor stopped") && !seen.has(s.id),
  );
}
