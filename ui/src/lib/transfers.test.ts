import { describe, expect, it, vi } from "vitest";

// The store module subscribes through Tauri's IPC; these tests cover its pure figures only.
vi.mock("@tauri-apps/api/core", () => ({ Channel: class {}, invoke: vi.fn() }));

const { formatEta, summarize } = await import("./transfers.svelte");

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
});

describe("formatEta", () => {
  it("reads like a person would say it", () => {
    expect(formatEta(null)).toBe("");
    expect(formatEta(42.4)).toBe("42 s");
    expect(formatEta(95)).toBe("1 min 35 s");
    expect(formatEta(3 * 3600 + 120)).toBe("3 h 2 min");
  });
});
