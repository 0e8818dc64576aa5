import { describe, expect, it } from "vitest";
import { lineEndingOf, lineNumbers, numberedName, toEditor, toFile } from "./edit";

describe("line endings", () => {
  it("tells a Windows file from a Unix one and a mixed one", () => {
    expect(lineEndingOf("a\nb\n")).toBe("\n");
    expect(lineEndingOf("a\r\nb\r\n")).toBe("\r\n");
    expect(lineEndingOf("a\r\nb\n")).toBe("mixed");
    expect(lineEndingOf("a\rb")).toBe("mixed");
    expect(lineEndingOf("one line")).toBe("\n");
  });

  it("gives a Windows file its \\r\\n back on save, byte for byte when nothing was edited", () => {
    const file = "[section]\r\nkey = value\r\n\r\nlast";
    const ending = lineEndingOf(file);
    const inBox = toEditor(file);
    expect(inBox).toBe("[section]\nkey = value\n\nlast");
    expect(toFile(inBox, ending)).toBe(file);
    expect(toFile(inBox + "\nadded", ending)).toBe(file + "\r\nadded");
  });

  it("leaves a Unix file's text as the box has it", () => {
    expect(toFile("a\nb\n", "\n")).toBe("a\nb\n");
    expect(toFile("a\nb", "mixed")).toBe("a\nb");
  });
});

describe("the editor's gutter and copy names", () => {
  it("numbers every line, the last one even when empty", () => {
    expect(lineNumbers("")).toBe("1");
    expect(lineNumbers("a\nb")).toBe("1\n2");
    expect(lineNumbers("a\nb\n")).toBe("1\n2\n3");
  });

  it("names a copy as the transfers do", () => {
    expect(numberedName("report.txt", 1)).toBe("report (1).txt");
    expect(numberedName("archive.tar.gz", 2)).toBe("archive (2).tar.gz");
    expect(numberedName(".bashrc", 1)).toBe(".bashrc (1)");
    expect(numberedName("Makefile", 3)).toBe("Makefile (3)");
  });
});
