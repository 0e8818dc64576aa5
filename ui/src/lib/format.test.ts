import { describe, expect, it } from "vitest";
import { formatCreated, humanize, permissionLabel } from "./format";

describe("formatCreated", () => {
  const now = new Date(2026, 10, 27, 15, 30);

  it("shows only the time for something made today", () => {
    const today = new Date(2026, 10, 27, 9, 5).getTime();
    const text = formatCreated(today, now);
    expect(text).toMatch(/09|9/);
    expect(text).not.toMatch(/2026/);
  });

  it("shows the date for something older", () => {
    const older = new Date(2025, 0, 3, 9, 5).getTime();
    expect(formatCreated(older, now)).toMatch(/2025/);
  });
});

describe("labels", () => {
  it("turns enum values into words", () => {
    expect(humanize("batch")).toBe("Batch");
    expect(humanize("engine_unavailable")).toBe("Engine unavailable");
  });

  it("spells out folder permissions and leaves unknown ones as they are", () => {
    expect(permissionLabel("ro")).toBe("Read only");
    expect(permissionLabel("wd")).toBe("Read, write & delete");
    expect(permissionLabel("xx")).toBe("xx");
  });
});
