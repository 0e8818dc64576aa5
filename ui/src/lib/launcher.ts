// The launcher's rules that need no window: what each step requires before Next, and how the
// user's choices become the `NewSession` the engine receives. The engine checks everything
// again; these only decide what the wizard lets the user do next.
import {
  MAX_ENV_NAME,
  RESERVED_ENV_NAMES,
  RESERVED_ENV_PREFIXES,
  type EnvVar,
  type MountProblem,
  type MountRequest,
  type NetworkMode,
  type NewSession,
  type ResourceLimits,
  type SessionRuntime,
  type SessionType,
} from "./bindings";
import { describeDuration, durationInput, parseDuration } from "./vitals";

export const STEPS = [
  { id: "type", title: "Session Type" },
  { id: "environment", title: "Environments & Resource allocation" },
  { id: "storage", title: "Data & Storage" },
  { id: "review", title: "Review & Launch" },
] as const;

export type StepId = (typeof STEPS)[number]["id"];

export type PickedFolder = { folder: string; alias: string; readOnly: boolean };

/** One row of the Environment variables editor, as typed. */
export type VariableRow = { name: string; value: string };

export type Draft = {
  sessionType: SessionType;
  name: string;
  command: string;
  environment: string;
  /** Empty means the engine's default. */
  cpus: string;
  memoryGiB: string;
  scratchGiB: string;
  network: NetworkMode;
  runtime: SessionRuntime;
  folders: PickedFolder[];
  variables: VariableRow[];
  /** A cluster's project and resource group; null on engines without them (and until read). */
  project: string | null;
  resourceGroup: string | null;
  /** Durations as typed (`30m`, `8h`); empty is no limit. The local engine's only. */
  idleTimeout: string;
  lifetime: string;
  /** Carried from a template (the CLI's --idle-cpu); the launcher has no field for it. */
  idleCpuPercent: number | null;
  /** Ports of servers to start in the session, as typed (`8000, 6006`): a cluster's only. */
  ports: string;
};

export function emptyDraft(): Draft {
  return {
    sessionType: "interactive",
    name: "",
    command: "",
    environment: "host",
    cpus: "",
    memoryGiB: "",
    scratchGiB: "",
    // Rule 6: a session reaches package indexes and git remotes unless the user says otherwise.
    network: "outbound",
    runtime: "bwrap",
    folders: [],
    variables: [],
    project: null,
    resourceGroup: null,
    idleTimeout: "",
    lifetime: "",
    idleCpuPercent: null,
    ports: "",
  };
}

/** The most ports one session opens (the engine's own limit, `MAX_SESSION_PORTS`). */
const MAX_PORTS = 16;

/**
 * "Ports to open" as typed: numbers separated by commas or spaces, each 1024-65535, none of
 * the kernel's own 2000-2003, none twice. `error` says which one breaks which rule.
 */
export function parsePorts(text: string): { ports: number[]; error: string | null } {
  const ports: number[] = [];
  for (const word of text.split(/[\s,]+/).filter((w) => w !== "")) {
    if (!/^\d+$/.test(word)) return { ports, error: `Ports to open: “${word}” is not a port number.` };
    const port = Number(word);
    if (port < 1024 || port > 65535) return { ports, error: `Ports to open: ${port} is not from 1024 to 65535.` };
    if (port >= 2000 && port <= 2003) return { ports, error: `Ports to open: ${port} is kept for the session's own use (2000-2003).` };
    if (ports.includes(port)) return { ports, error: `Ports to open: ${port} is listed twice.` };
    ports.push(port);
  }
  if (ports.length > MAX_PORTS) return { ports, error: `Ports to open: at most ${MAX_PORTS}.` };
  return { ports, error: null };
}

const GIB = 1024 ** 3;

/** A number field's value, or null when empty; NaN when it is not a number. */
function parsed(text: string): number | null {
  const trimmed = text.trim();
  return trimmed === "" ? null : Number(trimmed);
}

/**
 * What is wrong with a resource field, or null. `max` is in the field's unit; `where` says
 * whose limit it is ("on this machine", or a cluster's resource group).
 */
export function resourceError(label: string, text: string, max: number, integer: boolean, where = "on this machine"): string | null {
  const value = parsed(text);
  if (value === null) return null;
  if (!Number.isFinite(value) || value <= 0) return `${label} must be a positive number.`;
  if (integer && !Number.isInteger(value)) return `${label} must be a whole number.`;
  if (value > max) return `${label} can be at most ${formatMax(max)} ${where}.`;
  return null;
}

function formatMax(max: number): string {
  return Number.isInteger(max) ? String(max) : max.toFixed(1);
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Why `name` cannot name a session's variable, or null: the engines' rules (berth-core's
 * `environ.rs`; the reserved lists come from there through the bindings), so the launcher says
 * it while the user types. A cluster's own extra names are its engine's to refuse at launch.
 */
export function variableNameError(name: string): string | null {
  if (name === "") return "Give this variable a name.";
  if (name.length > MAX_ENV_NAME) return `A variable name can be at most ${MAX_ENV_NAME} characters.`;
  if (!ENV_NAME.test(name)) {
    return `“${name}”: a name starts with a letter or _ and holds only letters, digits and _.`;
  }
  if ((RESERVED_ENV_NAMES as readonly string[]).includes(name)) {
    return name === "PATH"
      ? "PATH is set by the engine for every session; add to it in a dotfile such as .profile instead."
      : `${name} is set by the engine for every session and cannot be replaced.`;
  }
  const prefix = RESERVED_ENV_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) return `“${name}”: names starting with ${prefix} belong to the engine.`;
  return null;
}

/**
 * Each row's problem, or null. A row left wholly empty is no variable (it is not sent) and so
 * no problem; a name given twice is a problem on its second row.
 */
export function variableErrors(rows: VariableRow[]): (string | null)[] {
  return rows.map((row, index) => {
    const name = row.name.trim();
    if (name === "" && row.value === "") return null;
    const problem = variableNameError(name);
    if (problem) return problem;
    if (rows.slice(0, index).some((earlier) => earlier.name.trim() === name)) return `${name} is set twice; keep one.`;
    return null;
  });
}

/** The variables `create_session` receives: the rows with a name, names trimmed, values as typed. */
export function environOf(rows: VariableRow[]): EnvVar[] {
  return rows.filter((r) => r.name.trim() !== "" || r.value !== "").map((r) => ({ name: r.name.trim(), value: r.value }));
}

export type StepContext = {
  /** The live answer of `check_session_name`, null when the name is fine or empty. */
  nameError: string | null;
  limits: ResourceLimits | null;
  /** The last `preview_mounts` answer's problems; null while a preview is on its way. */
  mountProblems: MountProblem[] | null;
  /** Why the chosen resource group cannot take a session now (see `nothingFree`), or null. */
  placementProblem?: string | null;
  /** Whose limits `limits` are, for the refusals: "on this machine" unless said otherwise. */
  limitsWhere?: string;
};

/**
 * Why a cluster's resource group cannot take a new session now, or null: not one whole CPU or
 * no memory free (the figures `resource_limits` gives for that group). Said before launch, so
 * the user picks another group rather than wait on a session the cluster cannot place.
 */
export function nothingFree(group: string | null, limits: ResourceLimits | null): string | null {
  if (group === null || limits === null) return null;
  if (limits.max_cpus >= 1 && limits.max_memory_bytes > 0) return null;
  const memory = limits.max_memory_bytes / GIB;
  return `Resource group “${group}” has nothing free now (${limits.max_cpus} CPUs, ${memory.toFixed(1)} GiB of memory): pick another group, or wait for sessions there to end.`;
}

/** Why the user cannot leave `step` with Next yet; empty when they can. */
export function stepBlockers(step: StepId, draft: Draft, context: StepContext): string[] {
  const blockers: string[] = [];
  switch (step) {
    case "type":
      if (context.nameError) blockers.push(context.nameError);
      if (draft.sessionType === "batch" && draft.command.trim() === "") {
        blockers.push("A batch session needs a startup command.");
      }
      for (const problem of variableErrors(draft.variables)) if (problem) blockers.push(problem);
      break;
    case "environment": {
      if (context.placementProblem) blockers.push(context.placementProblem);
      if (draft.environment === "") blockers.push("Pick an environment.");
      else if (draft.runtime !== runtimeFor(draft.environment)) {
        blockers.push(
          draft.runtime === "docker"
            ? "The Docker runtime runs Docker images: pick one, or use bubblewrap."
            : "A Docker image runs on the Docker runtime.",
        );
      }
      const limits = context.limits;
      if (limits) {
        for (const error of [
          resourceError("CPUs", draft.cpus, limits.max_cpus, true, context.limitsWhere),
          resourceError("Memory", draft.memoryGiB, limits.max_memory_bytes / GIB, false, context.limitsWhere),
          resourceError("Scratch space", draft.scratchGiB, limits.max_scratch_bytes / GIB, false, context.limitsWhere),
        ]) {
          if (error) blockers.push(error);
        }
      }
      for (const { error } of [parseDuration("Idle timeout", draft.idleTimeout), parseDuration("Lifetime", draft.lifetime), parsePorts(draft.ports)]) {
        if (error) blockers.push(error);
      }
      break;
    }
    case "storage":
      if (context.mountProblems === null) blockers.push("Checking the mounts…");
      else blockers.push(...context.mountProblems.map((p) => p.message));
      break;
    case "review":
      for (const earlier of ["type", "environment", "storage"] as const) {
        blockers.push(...stepBlockers(earlier, draft, context));
      }
      break;
  }
  return blockers;
}

/** The engine's id prefix for images served by a Docker-API engine (Docker, Podman). */
const DOCKER_IMAGE_PREFIX = "docker:";

/** The runtime an environment runs on: Docker images on Docker/Podman, the rest in bubblewrap. */
export function runtimeFor(environmentId: string): SessionRuntime {
  return environmentId.startsWith(DOCKER_IMAGE_PREFIX) ? "docker" : "bwrap";
}

/** The mount requests for the picked folders, in the order they were picked. */
export function mountRequests(folders: PickedFolder[]): MountRequest[] {
  return folders.map((f) => ({
    folder: f.folder,
    alias: f.alias.trim() === "" ? null : f.alias.trim(),
    // Unticked leaves the choice to the folder's permission (ro folders stay ro).
    access: f.readOnly ? "read_only" : null,
  }));
}

/** What `create_session` receives. */
export function toNewSession(draft: Draft): NewSession {
  const gib = (text: string) => {
    const value = parsed(text);
    return value === null ? null : Math.round(value * GIB);
  };
  return {
    name: draft.name.trim() === "" ? null : draft.name.trim(),
    session_type: draft.sessionType,
    environment: draft.environment,
    mounts: mountRequests(draft.folders),
    command: draft.sessionType === "batch" ? draft.command : null,
    runtime: draft.runtime,
    network: draft.network,
    resources: { cpus: parsed(draft.cpus), memory_bytes: gib(draft.memoryGiB), scratch_bytes: gib(draft.scratchGiB) },
    environ: environOf(draft.variables),
    project: draft.project,
    resource_group: draft.resourceGroup,
    limits: {
      idle_timeout_secs: parseDuration("Idle timeout", draft.idleTimeout).secs,
      lifetime_secs: parseDuration("Lifetime", draft.lifetime).secs,
      idle_cpu_percent: draft.idleTimeout.trim() === "" ? null : draft.idleCpuPercent,
    },
    ports: parsePorts(draft.ports).ports,
  };
}

/** One line about a template's setup, for its row: `docker:python:3.12 · batch · data, logs`. */
export function setupSummary(session: NewSession): string {
  const parts = [session.environment, session.session_type];
  const folders = session.mounts.map((m) => m.folder);
  if (folders.length > 0) parts.push(folders.join(", "));
  const cpus = session.resources?.cpus ?? null;
  if (cpus !== null) parts.push(`${cpus} CPU${cpus === 1 ? "" : "s"}`);
  if (session.network === "none") parts.push("no network");
  if (session.network === "host") parts.push("host network");
  if (session.limits?.idle_timeout_secs) parts.push(`idle ${describeDuration(session.limits.idle_timeout_secs)}`);
  if (session.limits?.lifetime_secs) parts.push(`lifetime ${describeDuration(session.limits.lifetime_secs)}`);
  if (session.ports && session.ports.length > 0) parts.push(`ports ${session.ports.join(", ")}`);
  return parts.join(" · ");
}

/** A saved setup (a template's) back as the launcher's draft: the inverse of `toNewSession`. */
export function draftFrom(session: NewSession): Draft {
  const gib = (bytes: number | null) => (bytes === null ? "" : String(Math.round((bytes / GIB) * 100) / 100));
  const resources = session.resources ?? { cpus: null, memory_bytes: null, scratch_bytes: null };
  return {
    sessionType: session.session_type,
    name: session.name ?? "",
    command: session.command ?? "",
    environment: session.environment,
    cpus: resources.cpus === null ? "" : String(resources.cpus),
    memoryGiB: gib(resources.memory_bytes),
    scratchGiB: gib(resources.scratch_bytes),
    network: session.network ?? "outbound",
    runtime: session.runtime ?? runtimeFor(session.environment),
    folders: session.mounts.map((m) => ({ folder: m.folder, alias: m.alias ?? "", readOnly: m.access === "read_only" })),
    variables: (session.environ ?? []).map((v) => ({ name: v.name, value: v.value })),
    project: session.project ?? null,
    resourceGroup: session.resource_group ?? null,
    idleTimeout: durationInput(session.limits?.idle_timeout_secs),
    lifetime: durationInput(session.limits?.lifetime_secs),
    idleCpuPercent: session.limits?.idle_cpu_percent ?? null,
    ports: (session.ports ?? []).join(", "),
  };
}

/** The planner's problems grouped by the folder they name, for showing next to each folder. */
export function problemsByFolder(problems: MountProblem[]): Map<string, string[]> {
  const grouped = new Map<string, string[]>();
  for (const problem of problems) grouped.set(problem.folder, [...(grouped.get(problem.folder) ?? []), problem.message]);
  return grouped;
}

/** Adds or removes `folder` from the picks; a read-only folder starts (and stays) read-only. */
export function togglePick(folders: PickedFolder[], folder: string, readOnlyFolder: boolean): PickedFolder[] {
  return folders.some((f) => f.folder === folder)
    ? folders.filter((f) => f.folder !== folder)
    : [...folders, { folder, alias: "", readOnly: readOnlyFolder }];
}
