// The pure half of a terminal tab: decoding what the channel carries, batching the
// acknowledgements that keep the Rust side reading, and the colours for light and dark.
// Kept free of xterm.js and Tauri so it is unit-tested in Node.

/** One message from `open_terminal`'s channel (see `TerminalChunk` in Rust). */
export type TerminalMessage = { kind: "output"; bytes: Uint8Array } | { kind: "exit"; status: number };

/**
 * Decodes a channel message: byte 0 = 0 then output bytes, 1 then the exit status (i32 LE).
 * The bindings type the message as `number[]`, but a raw IPC body reaches the webview as an
 * ArrayBuffer; both are accepted so a JSON fallback would still work.
 */
export function decodeChunk(message: ArrayBuffer | ArrayLike<number>): TerminalMessage | null {
  const bytes = message instanceof ArrayBuffer ? new Uint8Array(message) : Uint8Array.from(message);
  if (bytes.length === 0) return null;
  if (bytes[0] === 0) return { kind: "output", bytes: bytes.subarray(1) };
  if (bytes[0] === 1 && bytes.length >= 5) {
    return { kind: "exit", status: new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getInt32(0, true) };
  }
  return null;
}

/**
 * Counts bytes xterm.js has finished parsing and reports them in batches: one IPC call per
 * 64 KiB instead of one per chunk, and whatever is left once output goes quiet. Rust pauses the
 * shell at 1 MiB unacknowledged (resuming below 512 KiB), so a batch must stay well below that.
 */
export class AckBatcher {
  private pending = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly send: (bytes: number) => void,
    private readonly batchBytes = 64 * 1024,
    private readonly idleMs = 20,
  ) {}

  /** `bytes` more bytes were parsed (call from `term.write`'s callback). */
  processed(bytes: number): void {
    this.pending += bytes;
    if (this.pending >= this.batchBytes) {
      this.flush();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.idleMs);
    }
  }

  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending > 0) {
      const bytes = this.pending;
      this.pending = 0;
      this.send(bytes);
    }
  }

  /** Stops the idle timer; nothing more is sent. */
  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.pending = 0;
  }
}

/**
 * Paces output into xterm.js while it floods. Every write that changes the screen costs a
 * repaint on the next animation frame (DOM renderer, compositing, the X server), and a `cat`
 * through a cluster arrives in thousands of small chunks, so at 60 repaints a second the
 * drawing took the CPU the shell's side needed (the window's `cat` ran at two thirds of a
 * headless client's speed). After a large write, output that follows within `intervalMs` is
 * held and goes out as one write, so a flood repaints about `1000 / intervalMs` times a
 * second; a small write (a keystroke's echo, a prompt) never waits, nor does a flood faster
 * than `mostHeld` per interval (a local `cat`), which the flow control would otherwise cap.
 */
export class OutputPacer {
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastAt = -Infinity;
  private lastBytes = 0;

  constructor(
    private readonly write: (bytes: Uint8Array) => void,
    private readonly now: () => number = () => performance.now(),
    private readonly intervalMs = 50,
    private readonly largeBytes = 8 * 1024,
    // Held bytes are not yet acknowledged, and Rust stops reading at 1 MiB unacknowledged: a
    // fast local flood must go on at once well before that, or the pause would cap it.
    private readonly mostHeld = 512 * 1024,
  ) {}

  /** More output from the shell. */
  push(bytes: Uint8Array): void {
    this.held.push(bytes);
    this.heldBytes += bytes.length;
    if (this.heldBytes >= this.mostHeld) {
      this.flush();
      return;
    }
    if (this.timer !== null) return;
    const wait = this.lastBytes >= this.largeBytes ? this.lastAt + this.intervalMs - this.now() : 0;
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Writes whatever is held now (before the exit line, say). */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.heldBytes === 0) return;
    const bytes = this.held.length === 1 ? this.held[0] : concat(this.held, this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    this.lastAt = this.now();
    this.lastBytes = bytes.length;
    this.write(bytes);
  }

  /** Drops what is held; nothing more is written. */
  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.held = [];
    this.heldBytes = 0;
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const all = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

/** Why a tab's shell ended, for its tab (`short`) and the bar over the terminal (`message`). */
export type TerminalEnd = { short: string; message: string };

/** The exit status of a terminal that ended without its shell ending (a lost connection). */
export const NO_STATUS = -1;

/**
 * What the user is told when a tab's shell ends with `status`, given its session as it is now
 * (null: the session is gone). A session being destroyed or already destroyed took the shell
 * with it; an ended session says why; a live one means the shell itself exited (`exit`), or —
 * with no status — that the connection to it was lost (a cluster's tunnel that could not be
 * reconnected).
 */
export function terminalEnd(
  status: number,
  session: { name: string; status: string; status_detail: string | null } | null,
): TerminalEnd {
  if (session === null) return { short: "ended", message: "The session is gone; this shell ended with it." };
  if (session.status === "terminating") {
    return { short: "ending", message: `Session ${session.name} is ending; this shell ended with it.` };
  }
  if (session.status === "terminated") {
    return { short: "destroyed", message: `Session ${session.name} was destroyed; this shell ended with it.` };
  }
  if (session.status === "error") {
    const why = session.status_detail ? `: ${session.status_detail}` : ".";
    return { short: "ended", message: `Session ${session.name} stopped${why}` };
  }
  if (status === NO_STATUS) {
    return {
      short: "disconnected",
      message: `Lost the connection to this shell. Session ${session.name} is still running: open a new terminal to reach it.`,
    };
  }
  return { short: "exited", message: `The shell exited (status ${status}). Session ${session.name} is still running.` };
}

/** Whether the session's state may still move on and change what `terminalEnd` says. */
export function endSettled(end: TerminalEnd): boolean {
  return end.short !== "ending";
}

/** The line written into the terminal when its shell ends (or, with no status, its connection). */
export function exitLine(status: number): string {
  const what = status === NO_STATUS ? "disconnected" : `exited (status ${status})`;
  return `\r\n\x1b[2m[${what}]\x1b[0m\r\n`;
}

/** Which key chords the terminal keeps for the clipboard rather than sending to the shell. */
export function clipboardChord(event: Pick<KeyboardEvent, "type" | "ctrlKey" | "shiftKey" | "altKey" | "metaKey" | "key" | "code">): "copy" | "paste" | null {
  if (event.type !== "keydown" || event.altKey || event.metaKey) return null;
  // Ctrl+Shift+C / V as in GNOME Terminal and Konsole; Ctrl+Insert / Shift+Insert as in xterm.
  if (event.ctrlKey && event.shiftKey && event.code === "KeyC") return "copy";
  if (event.ctrlKey && event.shiftKey && event.code === "KeyV") return "paste";
  if (event.ctrlKey && !event.shiftKey && event.key === "Insert") return "copy";
  if (event.shiftKey && !event.ctrlKey && event.key === "Insert") return "paste";
  return null;
}

export type TerminalTheme = {
  background: string;
  foreground: string;
  cursor: string;
  cursorAccent: string;
  selectionBackground: string;
  black: string;
  red: string;
  green: string;
  yellow: string;
  blue: string;
  magenta: string;
  cyan: string;
  white: string;
  brightBlack: string;
  brightRed: string;
  brightGreen: string;
  brightYellow: string;
  brightBlue: string;
  brightMagenta: string;
  brightCyan: string;
  brightWhite: string;
};

// The app's own surface and text colours (app.css), so the terminal sits in the page rather
// than as a black hole in a light window; ANSI colours dark enough to read on white.
const LIGHT: TerminalTheme = {
  background: "#ffffff",
  foreground: "#1b2430",
  cursor: "#1f6fa8",
  cursorAccent: "#ffffff",
  selectionBackground: "#b9d7ee",
  black: "#1b2430",
  red: "#b42c2c",
  green: "#1e7a44",
  yellow: "#8a6100",
  blue: "#1f5fa8",
  magenta: "#8b3fa0",
  cyan: "#0f7580",
  white: "#c5ccd4",
  brightBlack: "#5d6978",
  brightRed: "#d04040",
  brightGreen: "#2f9e5b",
  brightYellow: "#a87a00",
  brightBlue: "#2f7cc4",
  brightMagenta: "#a653bf",
  brightCyan: "#16909c",
  brightWhite: "#e1e5ea",
};

const DARK: TerminalTheme = {
  background: "#12151a",
  foreground: "#e4e8ee",
  cursor: "#5aaee6",
  cursorAccent: "#12151a",
  selectionBackground: "#2e4a63",
  black: "#2a313a",
  red: "#ec6b6b",
  green: "#4cc07c",
  yellow: "#e0b050",
  blue: "#5aaee6",
  magenta: "#c586e0",
  cyan: "#4fc6cf",
  white: "#c5ccd4",
  brightBlack: "#6b7685",
  brightRed: "#ff8a8a",
  brightGreen: "#6fdc9a",
  brightYellow: "#f2cc70",
  brightBlue: "#8ccaf2",
  brightMagenta: "#dba6f0",
  brightCyan: "#7adde4",
  brightWhite: "#ffffff",
};

export function terminalTheme(dark: boolean): TerminalTheme {
  return dark ? DARK : LIGHT;
}
