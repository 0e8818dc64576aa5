import { describe, expect, it } from "vitest";
import type { ResourceLimits } from "./bindings";
import {
  emptyDraft,
  mountRequests,
  runtimeFor,
  problemsByFolder,
  resourceError,
  stepBlockers,
  nothingFree,
  parsePorts,
  toNewSession,
  draftFrom,
  togglePick,
  variableErrors,
  variableNameError,
  setupSummary,
  type StepContext,
} from "./launcher";

const GIB = 1024 ** 3;
const limits: ResourceLimits = {
  max_cpus: 4,
  cpus: "enforced",
  max_memory_bytes: 8 * GIB,
  memory: "advisory",
  default_scratch_bytes: 2 * GIB,
  max_scratch_bytes: 16 * GIB,
  scratch: "enforced",
  note: "Memory is advisory here.",
};
const fine: StepContext = { nameError: null, limits, mountProblems: [] };

describe("stepBlockers", () => {
  it("lets a fresh interactive draft through every step (no folder is allowed)", () => {
    for (const step of ["type", "environment", "storage", "review"] as const) {
      expect(stepBlockers(step, emptyDraft(), fine)).toEqual([]);
    }
  });

  it("holds Session Type on a bad name, and a batch session without a command", () => {
    expect(stepBlockers("type", emptyDraft(), { ...fine, nameError: "Bad name." })).toEqual(["Bad name."]);
    const batch = { ...emptyDraft(), sessionType: "batch" as const };
    expect(stepBlockers("type", batch, fine)).toEqual(["A batch session needs a startup command."]);
    expect(stepBlockers("type", { ...batch, command: "true" }, fine)).toEqual([]);
  });

  it("holds resources above this machine's limits or not numbers", () => {
    const draft = { ...emptyDraft(), cpus: "8", memoryGiB: "abc", scratchGiB: "2.5" };
    expect(stepBlockers("environment", draft, fine)).toEqual([
      "CPUs can be at most 4 on this machine.",
      "Memory must be a positive number.",
    ]);
    expect(stepBlockers("environment", { ...emptyDraft(), cpus: "1.5" }, fine)).toEqual(["CPUs must be a whole number."]);
    expect(stepBlockers("environment", { ...emptyDraft(), runtime: "docker" }, fine)).toEqual([
      "The Docker runtime runs Docker images: pick one, or use bubblewrap.",
    ]);
    expect(stepBlockers("environment", { ...emptyDraft(), environment: "docker:python:3.12", runtime: "docker" }, fine)).toEqual([]);
    expect(stepBlockers("environment", { ...emptyDraft(), environment: "docker:python:3.12" }, fine)).toEqual([
      "A Docker image runs on the Docker runtime.",
    ]);
  });

  it("holds Data & Storage while the planner refuses or has not answered, and review with it", () => {
    const refused: StepContext = { ...fine, mountProblems: [{ folder: "a", rule: "dot_component", message: "“a”: .. is not allowed." }] };
    expect(stepBlockers("storage", emptyDraft(), refused)).toEqual(["“a”: .. is not allowed."]);
    expect(stepBlockers("review", emptyDraft(), refused)).toEqual(["“a”: .. is not allowed."]);
    expect(stepBlockers("storage", emptyDraft(), { ...fine, mountProblems: null })).toEqual(["Checking the mounts…"]);
  });
});

describe("nothingFree", () => {
  it("refuses a group without a whole CPU or without memory, and says which", () => {
    expect(nothingFree("podman", limits)).toBeNull();
    expect(nothingFree(null, { ...limits, max_cpus: 0 })).toBeNull();
    const none = nothingFree("podman", { ...limits, max_cpus: 0 });
    expect(none).toContain("“podman” has nothing free now (0 CPUs, 8.0 GiB");
    expect(nothingFree("podman", { ...limits, max_memory_bytes: 0 })).toContain("0.0 GiB");
    const blocked = stepBlockers("environment", emptyDraft(), { ...fine, placementProblem: none });
    expect(blocked[0]).toBe(none);
    expect(stepBlockers("review", emptyDraft(), { ...fine, placementProblem: none })).toContain(none);
  });
});

describe("parsePorts", () => {
  it("reads ports typed with commas or spaces, and names the one that breaks a rule", () => {
    expect(parsePorts("")).toEqual({ ports: [], error: null });
    expect(parsePorts(" 8000, 6006 8888,")).toEqual({ ports: [8000, 6006, 8888], error: null });
    expect(parsePorts("8000, http").error).toBe("Ports to open: “http” is not a port number.");
    expect(parsePorts("80").error).toBe("Ports to open: 80 is not from 1024 to 65535.");
    expect(parsePorts("70000").error).toBe("Ports to open: 70000 is not from 1024 to 65535.");
    expect(parsePorts("2001").error).toBe("Ports to open: 2001 is kept for the session's own use (2000-2003).");
    expect(parsePorts("8000 8000").error).toBe("Ports to open: 8000 is listed twice.");
    const many = Array.from({ length: 17 }, (_, i) => 9000 + i).join(",");
    expect(parsePorts(many).error).toBe("Ports to open: at most 16.");
  });

  it("holds the environment step on a bad port, and carries good ones to the cluster", () => {
    expect(stepBlockers("environment", { ...emptyDraft(), ports: "8000 x" }, fine)).toContain("Ports to open: “x” is not a port number.");
    expect(toNewSession({ ...emptyDraft(), ports: "8000" }).ports).toEqual([8000]);
  });
});

describe("draftFrom", () => {
  it("gives back the draft a template was saved from, so the launcher shows it as it was", () => {
    const draft = {
      ...emptyDraft(),
      sessionType: "batch" as const,
      name: "nightly",
      command: "python train.py",
      environment: "docker:python:3.12",
      runtime: "docker" as const,
      cpus: "2",
      memoryGiB: "1.5",
      scratchGiB: "4",
      network: "none" as const,
      folders: [
        { folder: "a", alias: "/data", readOnly: true },
        { folder: "b", alias: "", readOnly: false },
      ],
      variables: [{ name: "EPOCHS", value: "3" }],
      project: "default",
      resourceGroup: "podman",
      idleTimeout: "30m",
      lifetime: "1d2h",
      idleCpuPercent: 12,
      ports: "8000, 6006",
    };
    expect(draftFrom(toNewSession(draft))).toEqual(draft);
  });

  it("fills what an older or hand-written template leaves out with the launcher's defaults", () => {
    const draft = draftFrom({ name: null, session_type: "interactive", environment: "host", mounts: [], command: null, runtime: null });
    expect(draft).toEqual({ ...emptyDraft(), runtime: "bwrap" });
  });
});

describe("toNewSession", () => {
  it("turns the draft into what create_session takes", () => {
    const draft = {
      ...emptyDraft(),
      name: " run-1 ",
      memoryGiB: "1.5",
      folders: [
        { folder: "a", alias: " data/in ", readOnly: false },
        { folder: "b", alias: "", readOnly: true },
      ],
    };
    expect(toNewSession(draft)).toEqual({
      name: "run-1",
      session_type: "interactive",
      environment: "host",
      mounts: [
        { folder: "a", alias: "data/in", access: null },
        { folder: "b", alias: null, access: "read_only" },
      ],
      command: null,
      runtime: "bwrap",
      network: "outbound",
      resources: { cpus: null, memory_bytes: 1.5 * GIB, scratch_bytes: null },
      environ: [],
      project: null,
      resource_group: null,
      limits: { idle_timeout_secs: null, lifetime_secs: null, idle_cpu_percent: null },
      ports: [],
    });
  });

  it("sends the limits typed, and blocks the step on one the engine would refuse", () => {
    const spec = toNewSession({ ...emptyDraft(), idleTimeout: "30m", lifetime: "8h" });
    expect(spec.limits).toEqual({ idle_timeout_secs: 1800, lifetime_secs: 28_800, idle_cpu_percent: null });
    const context = { nameError: null, limits: null, limitsWhere: "", mountProblems: [], placementProblem: null };
    expect(stepBlockers("environment", { ...emptyDraft(), lifetime: "8" }, context)).toEqual([
      'Lifetime "8" ends in a number without a unit: write a number and a unit, such as 45s, 30m, 8h or 1h30m.',
    ]);
  });

  it("sends the cluster's project and resource group the user picked", () => {
    const spec = toNewSession({ ...emptyDraft(), project: "default", resourceGroup: "podman" });
    expect(spec.project).toBe("default");
    expect(spec.resource_group).toBe("podman");
  });

  it("sends the variables with a name (trimmed), values exactly as typed, and drops empty rows", () => {
    const spec = toNewSession({
      ...emptyDraft(),
      variables: [
        { name: " GREETING ", value: " hello world " },
        { name: "", value: "" },
        { name: "EMPTY", value: "" },
      ],
    });
    expect(spec.environ).toEqual([
      { name: "GREETING", value: " hello world " },
      { name: "EMPTY", value: "" },
    ]);
  });

  it("sends the command only for batch sessions and lets the engine name an unnamed one", () => {
    const spec = toNewSession({ ...emptyDraft(), sessionType: "batch", command: "make" });
    expect(spec.command).toBe("make");
    expect(spec.name).toBeNull();
    expect(toNewSession({ ...emptyDraft(), command: "leftover" }).command).toBeNull();
  });
});

describe("picking folders", () => {
  it("toggles, keeps pick order, and starts read-only folders read-only", () => {
    let picks = togglePick([], "a", false);
    picks = togglePick(picks, "ro-data", true);
    expect(picks).toEqual([
      { folder: "a", alias: "", readOnly: false },
      { folder: "ro-data", alias: "", readOnly: true },
    ]);
    expect(togglePick(picks, "a", false)).toEqual([{ folder: "ro-data", alias: "", readOnly: true }]);
    expect(mountRequests(picks)[1].access).toBe("read_only");
  });

  it("groups the planner's problems by folder", () => {
    const grouped = problemsByFolder([
      { folder: "a", rule: "reserved_path", message: "one" },
      { folder: "b", rule: "duplicate_target", message: "two" },
      { folder: "a", rule: "nested_target", message: "three" },
    ]);
    expect(grouped.get("a")).toEqual(["one", "three"]);
    expect(grouped.get("b")).toEqual(["two"]);
  });
});

it("accepts an empty resource field as the engine's default", () => {
  expect(resourceError("CPUs", "  ", 4, true)).toBeNull();
});

it("says whose limit a resource field went over: this machine's, or a cluster group's", () => {
  expect(resourceError("CPUs", "8", 4, true)).toBe("CPUs can be at most 4 on this machine.");
  expect(resourceError("CPUs", "8", 4, true, 'in resource group "podman"')).toBe('CPUs can be at most 4 in resource group "podman".');
});

it("runs Docker images on the Docker runtime and everything else in bubblewrap", () => {
  expect(runtimeFor("docker:alpine:3")).toBe("docker");
  expect(runtimeFor("host")).toBe("bwrap");
  expect(runtimeFor("image:pytorch")).toBe("bwrap");
});

describe("environment variables", () => {
  it("takes shell-style names and refuses the rest, naming the variable and the rule", () => {
    for (const name of ["A", "_x", "MY_VAR_2", "lower", "LANG", "SHELL"]) expect(variableNameError(name)).toBeNull();
    for (const name of ["1ST", "MY-VAR", "A=B", "A B", "É"]) {
      expect(variableNameError(name)).toBe(`“${name}”: a name starts with a letter or _ and holds only letters, digits and _.`);
    }
    expect(variableNameError("")).toBe("Give this variable a name.");
    expect(variableNameError("N".repeat(129))).toContain("at most 128");
  });

  it("refuses the names and prefixes the engines set themselves", () => {
    for (const name of ["HOME", "USER", "LOGNAME", "TERM"]) {
      expect(variableNameError(name)).toBe(`${name} is set by the engine for every session and cannot be replaced.`);
    }
    expect(variableNameError("PATH")).toContain(".profile");
    expect(variableNameError("BERTH_SESSION_ID")).toContain("names starting with BERTH_ belong to the engine");
    expect(variableNameError("BACKENDAI_ACCESS_KEY")).toContain("BACKENDAI_");
  });

  it("ignores a wholly empty row, asks a value for its name, and marks a repeated name on its second row", () => {
    expect(
      variableErrors([
        { name: "A", value: "1" },
        { name: "", value: "" },
        { name: "", value: "orphan" },
        { name: " A ", value: "2" },
      ]),
    ).toEqual([null, null, "Give this variable a name.", "A is set twice; keep one."]);
  });

  it("holds Session Type (and Review) on a bad variable, not on an empty row", () => {
    const draft = { ...emptyDraft(), variables: [{ name: "", value: "" }] };
    expect(stepBlockers("type", draft, fine)).toEqual([]);
    const bad = { ...emptyDraft(), variables: [{ name: "HOME", value: "/root" }] };
    expect(stepBlockers("type", bad, fine)).toEqual(["HOME is set by the engine for every session and cannot be replaced."]);
    expect(stepBlockers("review", bad, fine)).toEqual(["HOME is set by the engine for every session and cannot be replaced."]);
  });
});

describe("setupSummary", () => {
  it("names what tells two setups apart: folders, CPUs, network, limits", () => {
    const setup = toNewSession({ ...emptyDraft(), cpus: "2", network: "none", idleTimeout: "30m", lifetime: "8h", folders: [{ folder: "data", alias: "", readOnly: false }] });
    expect(setupSummary(setup)).toBe("host · interactive · data · 2 CPUs · no network · idle 30 min · lifetime 8 h");
    expect(setupSummary(toNewSession(emptyDraft()))).toBe("host · interactive");
  });
});
