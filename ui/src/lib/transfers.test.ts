import { describe, expect, it, vi } from "vitest";

// The store talks to Rust through Tauri's IPC: here a stand-in channel the test feeds, and an
// invoke whose answers the test hands out when it likes (as a slow IPC round trip would).
const ipc = vi.hoisted(() => ({
  channels: [] as { onmessage: (event: unknown) => void }[],
  calls: [] as { command: string; answer: (value: unknown) => void }[],
}));
vi.mock("@tauri-apps/api/core", () => ({
  Channel: class {
    onmessage: (event: unknown) => void = () => {};
    constructor() {
      ipc.channels.push(this);
    }
  },
  invoke: vi.fn((command: string) => new Promise((answer) => ipc.calls.push({ command, answer }))),
}));

const { formatEta, panelShown, summarize, transferName, transfers } = await import("./transfers.svelte");

/** Answers the oldest unanswered call to `command`. */
async function answer(command: string, value: unknown) {
  await vi.waitFor(() => expect(ipc.calls.some((c) => c.command === command)).toBe(true));
  const at = ipc.calls.findIndex((c) => c.command === command);
  const [call] = ipc.calls.splice(at, 1);
  call.answer(value);
  await new Promise((r) => setTimeout(r, 0));
}

const job = (state: string, size: number, done: number, speed = 0) =>
  ({
    id: Math.random(),
    state,
    done_bytes: done,
    error: null,
    final_path: null,
    bytes_per_second: speed,
    eta_seconds: null,
    spec: { batch: "b", direction: "upload", folder: "w", remote_path: "x", local_path: "/x", size, conflict: "fail" },
  }) as never;

describe("summarize", () => {
  it("adds up what is moving, and ignores cancelled jobs", () => {
    const s = summarize([job("running", 100, 50, 10), job("queued", 100, 0), job("done", 200, 200), job("cancelled", 1000, 10)]);
    expect(s.active).toBe(2);
    expect(s.total).toBe(400);
    expect(s.done).toBe(250);
    expect(s.percent).toBe(62);
    expect(s.speed).toBe(10);
    expect(s.eta).toBe(15);
  });

  it("counts failures and reports no ETA when nothing moves", () => {
    const s = summarize([job("failed", 10, 3), job("paused", 10, 5)]);
    expect(s.failed).toBe(1);
    expect(s.eta).toBeNull();
  });

  it("counts what Resume all would resume: paused jobs, none once all are done", () => {
    expect(summarize([job("failed", 10, 3), job("paused", 10, 5)]).paused).toBe(1);
    expect(summarize([job("done", 10, 10), job("skipped", 10, 0)]).paused).toBe(0);
  });
});

describe("formatEta", () => {
  it("reads like a person would say it", () => {
    expect(formatEta(null)).toBe("");
    expect(formatEta(42.4)).toBe("42 s");
    expect(formatEta(95)).toBe("1 min 35 s");
    expect(formatEta(3 * 3600 + 120)).toBe("3 h 2 min");
  });
});

describe("the transfer store", () => {
  const upload = (state: string, done: number, finalPath: string | null = null) => ({
    id: 7,
    state,
    done_bytes: done,
    error: null,
    final_path: finalPath,
    spec: { batch: "b", direction: "upload", folder: "w", remote_path: "test_file.txt", local_path: "/h/test_file.txt", size: 26, conflict: "keep_both" },
  });

  it("keeps a finish that arrives while the list is being read, instead of the older list", async () => {
    const started = transfers.start();
    await answer("watch_transfers", null);
    await answer("list_transfers", []);
    await started;
    const events = ipc.channels[0];
    events.onmessage({ kind: "state", job: upload("queued", 0) });

    // The explorer queues an upload and reads the list again; the small file is done before
    // the answer arrives, but the list was taken while it still ran.
    const reading = transfers.reload();
    events.onmessage({ kind: "state", job: upload("running", 0) });
    events.onmessage({ kind: "progress", id: 7, done_bytes: 26, total_bytes: 26, bytes_per_second: 0, eta_seconds: null });
    events.onmessage({ kind: "state", job: upload("done", 26, "test_file (1).txt") });
    await answer("list_transfers", [upload("running", 26)]);
    await reading;

    expect(transfers.jobs.map((j) => j.state)).toEqual(["done"]);
    expect(summarize(transfers.jobs).active).toBe(0);
    expect(transferName(transfers.jobs[0])).toBe("test_file (1).txt");

    // A later list (after "Clear finished") is taken as it is when no event came meanwhile.
    const cleared = transfers.reload();
    await answer("list_transfers", []);
    await cleared;
    expect(transfers.jobs).toEqual([]);
  });
});

describe("transferName", () => {
  it("names where a finished file went, and where an unfinished one is going", () => {
    const kept = { ...(job("done", 26, 26) as object), final_path: "results/test_file (1).txt" } as never;
    expect(transferName(kept)).toBe("test_file (1).txt");
    const running = job("running", 26, 3) as { spec: { remote_path: string } };
    running.spec.remote_path = "results/test_file.txt";
    expect(transferName(running as never)).toBe("test_file.txt");
  });
});

describe("panelShown", () => {
  const idle = summarize([job("done", 1, 1)]);
  const moving = summarize([job("running", 10, 1)]);
  const failed = summarize([job("failed", 10, 1)]);

  it("takes no room without rows, nor on Settings", () => {
    expect(panelShown("storage", summarize([]), 0)).toBe(false);
    expect(panelShown("settings", moving, 1)).toBe(false);
  });

  it("shows finished rows on Data & Storage only, and work in progress or failed everywhere else", () => {
    expect(panelShown("storage", idle, 1)).toBe(true);
    expect(panelShown("sessions", idle, 1)).toBe(false);
    expect(panelShown("terminals", idle, 1)).toBe(false);
    expect(panelShown("sessions", moving, 1)).toBe(true);
    expect(panelShown("terminals", failed, 1)).toBe(true);
  });
});
