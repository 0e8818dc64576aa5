import { describe, expect, it } from "vitest";
import { formatCreated, humanBytes, humanize, matchesSearch, permissionLabel } from "./format";

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

describe("humanBytes", () => {
  it("matches the CLI's units", () => {
    expect(humanBytes(512)).toBe("512 B");
    expect(humanBytes(1536)).toBe("1.5 KiB");
    expect(humanBytes(5 * 2 ** 30)).toBe("5.0 GiB");
  });
});

describe("matchesSearch", () => {
  it("ignores case, accents and surrounding spaces", () => {
    expect(matchesSearch("User1-ML-test", "ml")).toBe(true);
    expect(matchesSearch("Résumés", "resume")).toBe(true);
    expect(matchesSearch("data", "  dat ")).toBe(true);
    expect(matchesSearch("data", "model")).toBe(false);
  });

  it("matches everything for an empty query", () => {
    expect(matchesSearch("anything", "")).toBe(true);
  });
});
