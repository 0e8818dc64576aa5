import { describe, expect, it } from "vitest";
import { syncStateText, syncTarget } from "./syncs";

const time = (ms: number) => `@${ms}`;

describe("a sync's row", () => {
  it("says where the sync stands", () => {
    expect(syncStateText({ state: "in_step", at_ms: 5, skipped: 0, conflicts: [] }, false, time)).toBe("In sync since @5");
    expect(syncStateText({ state: "in_step", at_ms: 5, skipped: 2, conflicts: [] }, false, time)).toBe("In sync since @5 · 2 not synced (links)");
    expect(syncStateText({ state: "in_step", at_ms: 5, skipped: 0, conflicts: ["a (conflict x).py"] }, false, time)).toBe("In sync since @5 · 1 conflict");
    expect(syncStateText({ state: "in_step", at_ms: 5, skipped: 0, conflicts: ["a", "b"] }, false, time)).toBe("In sync since @5 · 2 conflicts");
    expect(syncStateText({ state: "syncing", files: 1 }, false, time)).toBe("Syncing 1 file…");
    expect(syncStateText({ state: "syncing", files: 12 }, false, time)).toBe("Syncing 12 files…");
    expect(syncStateText({ state: "waiting", reason: "The server does not answer." }, false, time)).toBe("Waiting: The server does not answer.");
    expect(syncStateText({ state: "stopped" }, false, time)).toBe("Not running");
  });

  it("says Paused over whatever it last did", () => {
    expect(syncStateText({ state: "in_step", at_ms: 5, skipped: 0, conflicts: [] }, true, time)).toBe("Paused");
  });

  it("names the destination as folder/path", () => {
    const sync = { folder: "proj", path: "" } as never;
    expect(syncTarget(sync)).toBe("proj");
    expect(syncTarget({ folder: "proj", path: "code/src" } as never)).toBe("proj/code/src");
  });
});
