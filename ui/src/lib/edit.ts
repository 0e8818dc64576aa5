// What the window's editor does to text between the file and the text box: a text box hands
// back every line break as "\n", so a Windows file's "\r\n" would turn into "\n" on save
// unless it is put back.

/** How a file ends its lines: "\r\n" only when every break is one. */
export type LineEnding = "\n" | "\r\n" | "mixed";

export function lineEndingOf(text: string): LineEnding {
  const crlf = text.match(/\r\n/g)?.length ?? 0;
  const breaks = text.match(/\r\n|\r|\n/g)?.length ?? 0;
  if (crlf === 0 && !text.includes("\r")) return "\n";
  return crlf === breaks ? "\r\n" : "mixed";
}

/** The text as the text box holds it (what it would make of it anyway). */
export function toEditor(text: string): string {
  return text.replace(/\r\n?/g, "\n");
}

/** The text box's text as the file is written: with the file's own line breaks back (a file
 * that mixed them gets "\n"). */
export function toFile(edited: string, ending: LineEnding): string {
  return ending === "\r\n" ? edited.replace(/\n/g, "\r\n") : edited;
}

/** Line numbers for `text`, one per line, as the gutter shows them. */
export function lineNumbers(text: string): string {
  let lines = 1;
  for (let at = text.indexOf("\n"); at >= 0; at = text.indexOf("\n", at + 1)) lines++;
  let out = "1";
  for (let n = 2; n <= lines; n++) out += `\n${n}`;
  return out;
}

/** `report.txt` → `report (2).txt`; `.bashrc` → `.bashrc (2)`: the name a copy is saved under,
 * as the transfers name one (Rust's `berth_transfer::names::numbered`). */
export function numberedName(name: string, n: number): string {
  const dot = name.indexOf(".", 1);
  return dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
}
