import { describe, expect, it } from "vitest";
import { byteSize, draftChanged, draftOf, formatMode, parseMode, parseScrollback } from "./settings";

describe("dotfile modes", () => {
  it("reads the ways people type octal and shows three digits", () => {
    expect(parseMode("644")).toEqual({ mode: 0o644 });
    expect(parseMode(" 0755 ")).toEqual({ mode: 0o755 });
    expect(parseMode("0o600")).toEqual({ mode: 0o600 });
    expect(formatMode(0o644)).toBe("644");
    expect(formatMode(0o100600)).toBe("600");
  });

  it("refuses what is not octal, and modes the owner could not edit", () => {
    expect(parseMode("rw-r--r--")).toHaveProperty("error");
    expect(parseMode("888")).toHaveProperty("error");
    expect(parseMode("244")).toHaveProperty("error");
    expect(parseMode("4755")).toHaveProperty("error");
    expect(parseMode("444")).toEqual({ mode: 0o444 });
    expect(parseMode("")).toHaveProperty("error");
  });
});

it("counts bytes, not characters", () => {
  expect(byteSize("export A=é\n")).toBe(12);
});

it("sees a change to any field of the editor, and none for a fresh copy", () => {
  const file = { path: ".bashrc", content: "x", mode: 0o644 };
  expect(draftChanged(draftOf(file), file)).toBe(false);
  expect(draftChanged({ ...draftOf(file), content: "y" }, file)).toBe(true);
  expect(draftChanged({ ...draftOf(file), mode: "600" }, file)).toBe(true);
  expect(draftChanged(draftOf(null), null)).toBe(false);
  expect(draftChanged({ ...draftOf(null), path: ".vimrc" }, null)).toBe(true);
});

describe("terminal scrollback", () => {
  it("takes whole numbers of lines up to the cap Rust keeps", () => {
    expect(parseScrollback(" 5000 ")).toEqual({ lines: 5000 });
    expect(parseScrollback("0")).toEqual({ lines: 0 });
    expect(parseScrollback("50000")).toEqual({ lines: 50000 });
  });

  it("says why for anything else", () => {
    for (const text of ["", "-1", "1.5", "1e3", "lots"]) expect(parseScrollback(text)).toHaveProperty("error");
    expect(parseScrollback("50001")).toEqual({ error: "At most 50000 lines: each one is kept in memory, per tab." });
  });
});
