import { describe, expect, it } from "vitest";
import { keySelection, renameStem } from "./explorer";

const names = Array.from({ length: 100 }, (_, i) => `f${i}`);
const at = (cursor: number | null, anchor: number | null = cursor) => ({ cursor, anchor });
const picked = (result: ReturnType<typeof keySelection>) => (result ? [...result.selected] : null);

describe("keySelection: cursor keys move the selection as in file managers", () => {
  it("Home and End select the first and the last row, wherever the cursor was", () => {
    expect(keySelection(names, at(40), "End", { extend: false, pageRows: 10 })).toEqual({ selected: new Set(["f99"]), anchor: 99, cursor: 99 });
    expect(keySelection(names, at(40), "Home", { extend: false, pageRows: 10 })).toEqual({ selected: new Set(["f0"]), anchor: 0, cursor: 0 });
  });

  it("Page Down and Page Up move by a page and stop at the ends", () => {
    expect(keySelection(names, at(5), "PageDown", { extend: false, pageRows: 10 })?.cursor).toBe(15);
    expect(keySelection(names, at(95), "PageDown", { extend: false, pageRows: 10 })?.cursor).toBe(99);
    expect(keySelection(names, at(5), "PageUp", { extend: false, pageRows: 10 })?.cursor).toBe(0);
    expect(picked(keySelection(names, at(30), "PageUp", { extend: false, pageRows: 10 }))).toEqual(["f20"]);
  });

  it("arrows go on from the cursor, not from the anchor of a range", () => {
    // Shift+Down twice from row 3: the range grows to 3..5, the cursor is at 5.
    const once = keySelection(names, at(3), "ArrowDown", { extend: true, pageRows: 10 })!;
    const twice = keySelection(names, once, "ArrowDown", { extend: true, pageRows: 10 })!;
    expect(picked(twice)).toEqual(["f3", "f4", "f5"]);
    expect(twice.anchor).toBe(3);
    // A plain Down then selects the row below the cursor alone.
    expect(picked(keySelection(names, twice, "ArrowDown", { extend: false, pageRows: 10 }))).toEqual(["f6"]);
  });

  it("Shift with Home or End extends from the anchor to that end", () => {
    expect(picked(keySelection(names, at(97), "End", { extend: true, pageRows: 10 }))).toEqual(["f97", "f98", "f99"]);
    expect(picked(keySelection(names, at(2), "Home", { extend: true, pageRows: 10 }))).toEqual(["f0", "f1", "f2"]);
  });

  it("with nothing chosen yet, keys start at the top (End at the bottom); an empty list has no selection", () => {
    expect(keySelection(names, at(null), "ArrowDown", { extend: false, pageRows: 10 })?.cursor).toBe(0);
    expect(keySelection(names, at(null), "ArrowUp", { extend: false, pageRows: 10 })?.cursor).toBe(0);
    expect(keySelection(names, at(null), "End", { extend: false, pageRows: 10 })?.cursor).toBe(99);
    expect(keySelection([], at(null), "Home", { extend: false, pageRows: 10 })).toBeNull();
  });

  it("a cursor past the end (the list shrank) comes back inside it", () => {
    expect(keySelection(names.slice(0, 3), at(50), "ArrowUp", { extend: false, pageRows: 10 })?.cursor).toBe(1);
  });
});

describe("renameStem: what a rename preselects", () => {
  it("a file's name without its extension", () => {
    expect(renameStem("report.final.csv", "file")).toBe("report.final".length);
    expect(renameStem("data.tar.gz", "file")).toBe("data".length);
    expect(renameStem("README", "file")).toBe("README".length);
  });

  it("all of a dot file's or a directory's name", () => {
    expect(renameStem(".bashrc", "file")).toBe(".bashrc".length);
    expect(renameStem("results.v2", "directory")).toBe("results.v2".length);
  });
});
