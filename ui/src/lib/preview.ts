// What the explorer's preview shows of a file, decided from its name and first bytes, and the
// pure pieces of each view (hex rows, delimited tables, JSON, Markdown blocks) so they are
// tested without a window.

export type PreviewKind = "text" | "json" | "table" | "markdown" | "image" | "pdf" | "hex";

/** How much the preview reads at a time: about a screen or two of text. */
export const CHUNK = 64 * 1024;
/** Past this much text the preview stops reading on and says so. */
export const MOST_TEXT = 16 * 1024 * 1024;
/** Images, JSON and tables are read whole up to this size. */
export const MOST_WHOLE = 32 * 1024 * 1024;

const IMAGE_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  bmp: "image/bmp",
  ico: "image/x-icon",
  // Shown as an <img>: an SVG's scripts never run there.
  svg: "image/svg+xml",
};

export function extensionOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}

export function imageType(name: string): string | null {
  return IMAGE_TYPES[extensionOf(name)] ?? null;
}

export function previewKind(name: string, head: Uint8Array): PreviewKind {
  const extension = extensionOf(name);
  if (IMAGE_TYPES[extension]) return "image";
  // "%PDF-" at the start, whatever the name says.
  if (extension === "pdf" || String.fromCharCode(...head.subarray(0, 5)) === "%PDF-") return "pdf";
  if (!looksLikeText(head)) return "hex";
  if (extension === "json" || extension === "ipynb" || extension === "geojson") return "json";
  if (extension === "csv" || extension === "tsv") return "table";
  if (extension === "md" || extension === "markdown") return "markdown";
  return "text";
}

/** UTF-8 without NUL bytes; a character cut at the end of the bytes read is fine. */
export function looksLikeText(bytes: Uint8Array): boolean {
  if (bytes.includes(0)) return false;
  let end = bytes.length;
  // Drop a multi-byte character the read cut short (at most 3 bytes of it).
  for (let back = 1; back <= 3 && end - back >= 0; back++) {
    const byte = bytes[end - back];
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: keep looking for its lead
    if (byte >= 0xc0) {
      const needs = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      if (back < needs) end -= back;
    }
    break;
  }
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, end));
    return true;
  } catch {
    return false;
  }
}

export interface HexRow {
  offset: string;
  hex: string;
  ascii: string;
}

/** 16 bytes a row: the offset, the bytes in hex, and the printable ones as text. */
export function hexRows(bytes: Uint8Array, offset: number): HexRow[] {
  const rows: HexRow[] = [];
  for (let start = 0; start < bytes.length; start += 16) {
    const row = bytes.subarray(start, start + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0"));
    rows.push({
      offset: (offset + start).toString(16).padStart(8, "0"),
      hex: [hex.slice(0, 8).join(" "), hex.slice(8).join(" ")].join("  ").trimEnd(),
      ascii: Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join(""),
    });
  }
  return rows;
}

/** CSV/TSV rows (quoted fields with doubled quotes and line breaks inside), at most `most`. */
export function parseDelimited(text: string, delimiter: string, most: number): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length && rows.length < most; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === delimiter) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if ((field !== "" || row.length > 0) && rows.length < most) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** JSON indented two spaces, or why it is not JSON. */
export function prettyJson(text: string): { text: string } | { error: string } {
  try {
    return { text: JSON.stringify(JSON.parse(text), null, 2) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

// Markdown, as blocks and inline pieces the view renders as elements (never as HTML, so a
// file cannot put markup or scripts into the window).

export type Inline = { kind: "text" | "code" | "strong" | "em" | "link"; text: string; href?: string };
export type Block =
  | { kind: "heading"; level: number; inline: Inline[] }
  | { kind: "paragraph"; inline: Inline[] }
  | { kind: "quote"; inline: Inline[] }
  | { kind: "list"; ordered: boolean; items: Inline[][] }
  | { kind: "code"; text: string }
  | { kind: "rule" };

export function markdownBlocks(text: string): Block[] {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === "") {
      i++;
      continue;
    }
    const fence = line.match(/^\s*(```|~~~)/);
    if (fence) {
      const code: string[] = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) code.push(lines[i++]);
      i++;
      blocks.push({ kind: "code", text: code.join("\n") });
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) {
      blocks.push({ kind: "heading", level: heading[1].length, inline: inlines(heading[2]) });
      i++;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      blocks.push({ kind: "rule" });
      i++;
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+(.*)$/;
    if (item.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const items: Inline[][] = [];
      while (i < lines.length && item.test(lines[i])) items.push(inlines(lines[i++].match(item)![2]));
      blocks.push({ kind: "list", ordered, items });
      continue;
    }
    if (line.startsWith(">")) {
      const quoted: string[] = [];
      while (i < lines.length && lines[i].startsWith(">")) quoted.push(lines[i++].replace(/^>\s?/, ""));
      blocks.push({ kind: "quote", inline: inlines(quoted.join(" ")) });
      continue;
    }
    const paragraph: string[] = [];
    while (i < lines.length && lines[i].trim() !== "" && !/^(#{1,6}\s|\s*```|>|\s*([-*+]|\d+[.)])\s)/.test(lines[i])) {
      paragraph.push(lines[i++].trim());
    }
    if (paragraph.length === 0) paragraph.push(lines[i++].trim());
    blocks.push({ kind: "paragraph", inline: inlines(paragraph.join(" ")) });
  }
  return blocks;
}

export function inlines(text: string): Inline[] {
  const out: Inline[] = [];
  const pattern = /`([^`]+)`|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*]+)\*|_([^_]+)_|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const at = match.index ?? 0;
    if (at > last) out.push({ kind: "text", text: text.slice(last, at) });
    if (match[1] !== undefined) out.push({ kind: "code", text: match[1] });
    else if (match[2] !== undefined || match[3] !== undefined) out.push({ kind: "strong", text: match[2] ?? match[3] });
    else if (match[4] !== undefined || match[5] !== undefined) out.push({ kind: "em", text: match[4] ?? match[5] });
    else out.push({ kind: "link", text: match[6], href: match[7] });
    last = at + match[0].length;
  }
  if (last < text.length) out.push({ kind: "text", text: text.slice(last) });
  return out;
}
