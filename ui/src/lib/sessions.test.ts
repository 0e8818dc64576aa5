import { describe, expect, it } from "vitest";
import type { Session } from "./bindings";
import { elapsedOf, endedUnwatched, filterSessions, formatElapsed, isLive, networkLabel, recentSetups, resourcesSummary, setupOf, usageSummary } from "./sessions";

describe("formatElapsed", () => {
  it("reads short for a table cell at every scale", () => {
    expect(formatElapsed(0)).toBe("0s");
    expect(formatElapsed(42_900)).toBe("42s");
    expect(formatElapsed(303_000)).toBe("5m 03s");
    expect(formatElapsed((2 * 3600 + 5 * 60) * 1000)).toBe("2h 05m");
    expect(formatElapsed((3 * 24 + 4) * 3600 * 1000)).toBe("3d 4h");
    expect(formatElapsed(-5)).toBe("0s");
  });

  it("stops counting when the session ended", () => {
    expect(elapsedOf({ created_at_ms: 1000, ended_at_ms: 61_000 }, 999_999)).toBe(60_000);
    expect(elapsedOf({ created_at_ms: 1000, ended_at_ms: null }, 11_000)).toBe(10_000);
  });
});

it("files preparing, running and terminating sessions under Running, the rest under Finished", () => {
  const statuses = ["preparing", "running", "terminating", "terminated", "error"] as const;
  expect(statuses.filter(isLive)).toEqual(["preparing", "running", "terminating"]);
  const sessions = statuses.map((status, i) => ({ id: String(i), status }) as Session);
  expect(filterSessions(sessions, "finished").map((s) => s.status)).toEqual(["terminated", "error"]);
});

it("summarises resources, saying where the default applies", () => {
  expect(resourcesSummary({ cpus: 2, memory_bytes: null, scratch_bytes: 1024 ** 3 })).toBe("2 CPUs · memory: default · 1.0 GiB scratch");
  // A cluster decides /home/work's size: nothing to say about scratch there.
  expect(resourcesSummary({ cpus: 1, memory_bytes: null, scratch_bytes: null }, false)).toBe("1 CPU · memory: default");
});

it("names the three network modes the way the launcher offers them", () => {
  expect(networkLabel("outbound")).toMatch(/^Outbound/);
  expect(networkLabel("none")).toMatch(/loopback only/);
  expect(networkLabel("host")).toMatch(/^Host network/);
});

it("reports sessions whose supervisor died unwatched, once", () => {
  const base = { status: "error", status_detail: "Its supervisor stopped unexpectedly, and the sandbox ended with it." };
  const sessions = [
    { ...base, id: "a" },
    { ...base, id: "b" },
    { id: "c", status: "error", status_detail: "The sandbox ended on its own (status 1)." },
    { id: "d", status: "running", status_detail: null },
  ] as Session[];
  expect(endedUnwatched(sessions, new Set()).map((s) => s.id)).toEqual(["a", "b"]);
  expect(endedUnwatched(sessions, new Set(["a"])).map((s) => s.id)).toEqual(["b"]);
});

it("launching a session again asks for its setup: picked folders where they were mounted, no name, no dot folders", () => {
  const session = {
    id: "s1",
    name: "happy-otter",
    session_type: "batch",
    status: "terminated",
    environment: "docker:python:3.12",
    runtime: "docker",
    network: "none",
    resources: { cpus: 2, memory_bytes: null, scratch_bytes: null },
    mounts: [
      { folder_id: "1", folder_name: "data", target: "/data", read_only: true, automount: false },
      { folder_id: "2", folder_name: "out", target: "/home/work/out", read_only: false, automount: false },
      { folder_id: "3", folder_name: ".local", target: "/home/work/.local", read_only: false, automount: true },
    ],
    command: "python train.py",
    environ: [{ name: "EPOCHS", value: "3" }],
  } as unknown as Session;
  expect(setupOf(session)).toEqual({
    name: null,
    session_type: "batch",
    environment: "docker:python:3.12",
    mounts: [
      { folder: "data", alias: "/data", access: "read_only" },
      { folder: "out", alias: "/home/work/out", access: null },
    ],
    command: "python train.py",
    runtime: "docker",
    network: "none",
    resources: { cpus: 2, memory_bytes: null, scratch_bytes: null },
    environ: [{ name: "EPOCHS", value: "3" }],
    project: null,
    resource_group: null,
  });
});

it("offers the last different setups, newest first, leaving out what a template holds", () => {
  const session = (id: string, created: number, environment: string, cpus: number | null) =>
    ({
      id,
      name: `s-${id}`,
      session_type: "interactive",
      status: "terminated",
      created_at_ms: created,
      environment,
      runtime: "bwrap",
      network: "outbound",
      resources: { cpus, memory_bytes: null, scratch_bytes: null },
      mounts: [],
      command: null,
      environ: [],
    }) as unknown as Session;
  const sessions = [
    session("a", 1, "host", null),
    session("b", 2, "host", 2),
    session("c", 3, "host", null), // the same setup as a, newer
    session("d", 4, "docker:python:3.12", null),
    session("e", 5, "host", 1),
  ];
  const recent = recentSetups(sessions, []);
  expect(recent.map((r) => r.session.id)).toEqual(["e", "d", "c"]);
  expect(recent[0].setup.name).toBeNull();
  // A template that holds e's setup takes its place.
  expect(recentSetups(sessions, [setupOf(sessions[4])], 5).map((r) => r.session.id)).toEqual(["d", "c", "b"]);
});

it("says what a session uses in one line, a core being 100%", () => {
  const stats = { cpu_percent: 198.4, memory_bytes: 12 * 1024 ** 2, read_bytes: 0, write_bytes: 4096, sampled_at_ms: 0 };
  expect(usageSummary(stats)).toBe("CPU 198% · 12.0 MiB memory · read 0 B · written 4.0 KiB");
  expect(usageSummary({ ...stats, cpu_percent: 0.25 })).toMatch(/^CPU 0\.3% /);
  expect(usageSummary({ ...stats, gpu_percent: 87, gpu_memory_bytes: 2 * 1024 ** 3 })).toMatch(/ · GPU 87%, 2\.0 GiB$/);
});
