import { describe, expect, it } from "vitest";
import { hexRows, inlines, looksLikeText, markdownBlocks, parseDelimited, prettyJson, previewKind } from "./preview";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("which view a file gets", () => {
  it("goes by the name for images, data and Markdown, and by the bytes for binary", () => {
    expect(previewKind("plot.PNG", new Uint8Array([0x89, 0x50, 0, 0]))).toBe("image");
    expect(previewKind("logo.svg", bytes("<svg/>"))).toBe("image");
    expect(previewKind("a.json", bytes("{}"))).toBe("json");
    expect(previewKind("t.tsv", bytes("a\tb"))).toBe("table");
    expect(previewKind("paper.pdf", new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x2d, 0xe2]))).toBe("pdf");
    expect(previewKind("download", bytes("%PDF-1.7\n%\u00e2"))).toBe("pdf");
    expect(previewKind("README.md", bytes("# hi"))).toBe("markdown");
    expect(previewKind("train.log", bytes("epoch 1\n"))).toBe("text");
    expect(previewKind("model.bin", new Uint8Array([1, 0, 2]))).toBe("hex");
    // A CSV that is really binary is shown as bytes, not as a table of garbage.
    expect(previewKind("x.csv", new Uint8Array([0xff, 0xfe, 0x00]))).toBe("hex");
  });

  it("takes text cut in the middle of a character as text", () => {
    const text = bytes("naïve café ✓");
    expect(looksLikeText(text)).toBe(true);
    expect(looksLikeText(text.subarray(0, text.length - 1))).toBe(true); // ✓ cut short
    expect(looksLikeText(text.subarray(0, text.length - 2))).toBe(true);
    expect(looksLikeText(new Uint8Array([0x61, 0xff, 0x61]))).toBe(false);
  });
});

describe("views", () => {
  it("hex rows show offset, bytes and printable text", () => {
    const rows = hexRows(bytes("Hello, world!\n\u0001xyz"), 0x20);
    expect(rows[0]).toEqual({
      offset: "00000020",
      hex: "48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 0a 01 78",
      ascii: "Hello, world!..x",
    });
    expect(rows[1]).toEqual({ offset: "00000030", hex: "79 7a", ascii: "yz" });
  });

  it("delimited text keeps quoted commas, quotes and line breaks in their field", () => {
    const rows = parseDelimited('name,note\r\n"Kim, J.","said ""hi""\nthen left"\nLee,\n', ",", 100);
    expect(rows).toEqual([
      ["name", "note"],
      ["Kim, J.", 'said "hi"\nthen left'],
      ["Lee", ""],
    ]);
    expect(parseDelimited("a\tb\nc\td", "\t", 1)).toEqual([["a", "b"]]);
  });

  it("JSON is indented, or says why it is not JSON", () => {
    expect(prettyJson('{"a":[1,2]}')).toEqual({ text: '{\n  "a": [\n    1,\n    2\n  ]\n}' });
    expect("error" in prettyJson("{oops")).toBe(true);
  });

  it("Markdown becomes blocks and inline pieces, never markup", () => {
    const blocks = markdownBlocks("# Title\n\nSome **bold** and `code`.\n\n- one\n- two\n\n```\n<script>x</script>\n```\n> quoted");
    expect(blocks.map((b) => b.kind)).toEqual(["heading", "paragraph", "list", "code", "quote"]);
    expect(blocks[3]).toEqual({ kind: "code", text: "<script>x</script>" });
    expect(inlines("see [docs](https://x.example) or *this*")).toEqual([
      { kind: "text", text: "see " },
      { kind: "link", text: "docs", href: "https://x.example" },
      { kind: "text", text: " or " },
      { kind: "em", text: "this" },
    ]);
  });
});
