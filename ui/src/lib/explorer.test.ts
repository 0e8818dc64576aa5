import { describe, expect, it } from "vitest";
import type { FileEntry } from "./bindings";
import { arrange, expandNames, filterByName, withDetails, childPath, clickSelection, crumbs, parentPath, sortEntries, visibleRange } from "./explorer";

const entry = (name: string, kind: FileEntry["kind"], size = 0, modified_ms = 0): FileEntry => ({
  name,
  kind,
  size,
  modified_ms,
  link_target: null,
});

describe("sortEntries", () => {
  const entries = [entry("b.txt", "file", 30, 3), entry("z", "directory"), entry("a10.txt", "file", 10, 1), entry("a2.txt", "file", 20, 2)];

  it("puts directories first and orders names naturally", () => {
    expect(sortEntries(entries, { key: "name", ascending: true }).map((e) => e.name)).toEqual(["z", "a2.txt", "a10.txt", "b.txt"]);
    expect(sortEntries(entries, { key: "name", ascending: false }).map((e) => e.name)).toEqual(["z", "b.txt", "a10.txt", "a2.txt"]);
  });

  it("sorts by size and by modification time", () => {
    expect(sortEntries(entries, { key: "size", ascending: false }).map((e) => e.name)).toEqual(["z", "b.txt", "a2.txt", "a10.txt"]);
    expect(sortEntries(entries, { key: "modified", ascending: true }).map((e) => e.name)).toEqual(["z", "a10.txt", "a2.txt", "b.txt"]);
  });

  it("does not reorder the input", () => {
    const before = entries.map((e) => e.name);
    sortEntries(entries, { key: "size", ascending: true });
    expect(entries.map((e) => e.name)).toEqual(before);
  });
});

describe("paths", () => {
  it("joins and splits like a breadcrumb", () => {
    expect(childPath("", "a")).toBe("a");
    expect(childPath("a/b", "c d")).toBe("a/b/c d");
    expect(parentPath("a/b/c")).toBe("a/b");
    expect(parentPath("a")).toBe("");
    expect(crumbs("")).toEqual([]);
    expect(crumbs("a/b")).toEqual([
      { name: "a", path: "a" },
      { name: "b", path: "a/b" },
    ]);
  });
});

describe("clickSelection", () => {
  const names = ["a", "b", "c", "d"];
  const none = { toggle: false, range: false };

  it("selects one on a plain click, toggles with Ctrl, extends with Shift", () => {
    let state = clickSelection(new Set(), names, 1, null, none);
    expect([...state.selected]).toEqual(["b"]);
    state = clickSelection(state.selected, names, 3, state.anchor, { toggle: true, range: false });
    expect([...state.selected].sort()).toEqual(["b", "d"]);
    state = clickSelection(state.selected, names, 3, state.anchor, { toggle: true, range: false });
    expect([...state.selected]).toEqual(["b"]);
    state = clickSelection(new Set(["a"]), names, 2, 0, { toggle: false, range: true });
    expect([...state.selected]).toEqual(["a", "b", "c"]);
  });
});

describe("visibleRange", () => {
  it("renders only what is on screen plus a margin, even for 100,000 rows", () => {
    const range = visibleRange(320_000, 600, 32, 100_000);
    expect(range.end - range.start).toBeLessThan(60);
    expect(range.start).toBe(10_000 - 8);
    expect(visibleRange(0, 600, 32, 5)).toEqual({ start: 0, end: 5 });
  });
});

describe("arrange", () => {
  const names = [
    { name: "adir", kind: "directory" as const },
    { name: "a.txt", kind: "file" as const },
    { name: "b.txt", kind: "file" as const },
  ];

  it("keeps the engine's order, reversing within groups for descending", () => {
    const none = new Map<string, FileEntry>();
    expect(arrange(names, none, { key: "name", ascending: true }).map((e) => e.name)).toEqual(["adir", "a.txt", "b.txt"]);
    expect(arrange(names, none, { key: "name", ascending: false }).map((e) => e.name)).toEqual(["adir", "b.txt", "a.txt"]);
  });

  it("uses details where they arrived and placeholders elsewhere", () => {
    const details = new Map([["b.txt", entry("b.txt", "file", 99, 5)]]);
    const rows = arrange(names, details, { key: "size", ascending: false });
    expect(rows.map((e) => e.name)).toEqual(["adir", "b.txt", "a.txt"]);
    expect(withDetails(names[1], details).modified_ms).toBeNull();
    expect(withDetails(names[2], details).size).toBe(99);
  });
});

describe("expandNames", () => {
  it("pairs each name with its kind letter", () => {
    expect(expandNames({ names: ["d1", "a", "l", "s"], kinds: "dflo" })).toEqual([
      { name: "d1", kind: "directory" },
      { name: "a", kind: "file" },
      { name: "l", kind: "symlink" },
      { name: "s", kind: "other" },
    ]);
  });
});

describe("filterByName", () => {
  const names = ["Results", "results-2026", "model.bin", "README.md", "Ünïcode résumé.txt"].map((name) => ({ name, kind: "file" as const }));

  it("keeps names containing the query, ignoring case, in the given order", () => {
    expect(filterByName(names, "RESULT").map((e) => e.name)).toEqual(["Results", "results-2026"]);
    expect(filterByName(names, ".md").map((e) => e.name)).toEqual(["README.md"]);
    expect(filterByName(names, "RÉSUMÉ").map((e) => e.name)).toEqual(["Ünïcode résumé.txt"]);
    expect(filterByName(names, "nothing like it")).toEqual([]);
  });

  it("returns the same array for an empty or blank query", () => {
    expect(filterByName(names, "")).toBe(names);
    expect(filterByName(names, "   ")).toBe(names);
  });

  it("reads each of 100,000 names once per keystroke, so filtering stays one pass", () => {
    let reads = 0;
    const many = Array.from({ length: 100_000 }, (_, i) => {
      const name = `File-${String(i).padStart(6, "0")}.dat`;
      return {
        kind: "file" as const,
        get name() {
          reads += 1;
          return name;
        },
      };
    });
    const found = filterByName(many, "file-09999");
    expect(reads).toBe(100_000);
    expect(found.map((e) => e.name)).toEqual(Array.from({ length: 10 }, (_, i) => `File-09999${i}.dat`));
  });
});
