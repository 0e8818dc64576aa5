// The Settings page's rules that need no window: how a dotfile's mode is typed and shown, its
// size, whether an editor holds changes that leaving would lose, and the terminal scrollback.
import { SCROLLBACK_MAX, type Dotfile } from "./bindings";

/** The mode a new dotfile gets: what `touch` gives under the usual umask. */
export const DEFAULT_MODE = 0o644;

/** `0o644` → `"644"`, as `ls -l` users read it. */
export function formatMode(mode: number): string {
  return (mode & 0o777).toString(8).padStart(3, "0");
}

/** The typed mode (`644`, `0644`, `0o755`), or an error saying what is accepted. */
export function parseMode(text: string): { mode: number } | { error: string } {
  const digits = text.trim().replace(/^0o/i, "");
  if (!/^0?[0-7]{3}$/.test(digits)) return { error: "Three octal digits, like 644 or 755." };
  const mode = parseInt(digits, 8);
  // The engine refuses a file the session's user could not read (the shell must source it).
  if ((mode & 0o400) === 0) return { error: "You must be able to read it: 4xx, 6xx or 7xx." };
  return { mode };
}

/** The size of the text as stored: UTF-8 bytes, not characters. */
export function byteSize(content: string): number {
  return new TextEncoder().encode(content).length;
}

export type DotfileDraft = { path: string; content: string; mode: string };

export function draftOf(dotfile: Dotfile | null): DotfileDraft {
  return dotfile === null
    ? { path: "", content: "", mode: formatMode(DEFAULT_MODE) }
    : { path: dotfile.path, content: dotfile.content, mode: formatMode(dotfile.mode) };
}

/** Whether the editor differs from what it was opened with. */
export function draftChanged(draft: DotfileDraft, original: Dotfile | null): boolean {
  const base = draftOf(original);
  return draft.path !== base.path || draft.content !== base.content || draft.mode.trim() !== base.mode;
}

/** The typed terminal scrollback (whole lines, 0 to the cap Rust keeps), or why not. */
export function parseScrollback(text: string): { lines: number } | { error: string } {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return { error: `A whole number of lines, 0 to ${SCROLLBACK_MAX}.` };
  const lines = Number(trimmed);
  if (lines > SCROLLBACK_MAX) return { error: `At most ${SCROLLBACK_MAX} lines: each one is kept in memory, per tab.` };
  return { lines };
}
