import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AckBatcher, NO_STATUS, OutputPacer, clipboardChord, decodeChunk, exitLine } from "./terminal";

describe("decodeChunk", () => {
  it("reads output bytes after a 0 tag, from an ArrayBuffer as the webview receives it", () => {
    const message = new Uint8Array([0, 104, 105]).buffer;
    const decoded = decodeChunk(message);
    expect(decoded?.kind).toBe("output");
    expect(decoded?.kind === "output" && Array.from(decoded.bytes)).toEqual([104, 105]);
  });

  it("reads the exit status as i32 little-endian after a 1 tag, negative ones too", () => {
    expect(decodeChunk(new Uint8Array([1, 42, 0, 0, 0]).buffer)).toEqual({ kind: "exit", status: 42 });
    expect(decodeChunk([1, 0xff, 0xff, 0xff, 0xff])).toEqual({ kind: "exit", status: -1 });
  });

  it("ignores empty and unknown messages", () => {
    expect(decodeChunk(new ArrayBuffer(0))).toBeNull();
    expect(decodeChunk([7, 1, 2])).toBeNull();
    expect(decodeChunk([1, 0])).toBeNull();
  });
});

describe("AckBatcher", () => {
  it("sends one acknowledgement per batch, not one per chunk", () => {
    vi.useFakeTimers();
    const sent: number[] = [];
    const acks = new AckBatcher((n) => sent.push(n), 64 * 1024, 20);
    for (let i = 0; i < 16; i++) acks.processed(4096);
    expect(sent).toEqual([65536]);
    vi.useRealTimers();
  });

  it("sends what is left once output goes quiet, so the last bytes never stall the shell", () => {
    vi.useFakeTimers();
    const sent: number[] = [];
    const acks = new AckBatcher((n) => sent.push(n), 64 * 1024, 20);
    acks.processed(100);
    acks.processed(23);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(25);
    expect(sent).toEqual([123]);
    vi.advanceTimersByTime(100);
    expect(sent).toEqual([123]);
    vi.useRealTimers();
  });

  it("keeps every batch far below the Rust side's 1 MiB high-water mark", () => {
    const sent: number[] = [];
    const acks = new AckBatcher((n) => sent.push(n));
    let unacknowledged = 0;
    for (let i = 0; i < 1000; i++) {
      unacknowledged += 1500;
      acks.processed(1500);
      if (sent.length > 0) unacknowledged -= sent.splice(0).reduce((a, b) => a + b, 0);
      expect(unacknowledged).toBeLessThan(128 * 1024);
    }
    acks.dispose();
  });

  it("sends nothing after dispose", () => {
    vi.useFakeTimers();
    const sent: number[] = [];
    const acks = new AckBatcher((n) => sent.push(n));
    acks.processed(10);
    acks.dispose();
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([]);
    vi.useRealTimers();
  });
});

describe("clipboardChord", () => {
  const key = (over: Partial<KeyboardEvent>) =>
    ({ type: "keydown", ctrlKey: false, shiftKey: false, altKey: false, metaKey: false, key: "", code: "", ...over }) as KeyboardEvent;

  it("keeps Ctrl+Shift+C/V and the Insert chords for the clipboard", () => {
    expect(clipboardChord(key({ ctrlKey: true, shiftKey: true, code: "KeyC", key: "C" }))).toBe("copy");
    expect(clipboardChord(key({ ctrlKey: true, shiftKey: true, code: "KeyV", key: "V" }))).toBe("paste");
    expect(clipboardChord(key({ ctrlKey: true, key: "Insert" }))).toBe("copy");
    expect(clipboardChord(key({ shiftKey: true, key: "Insert" }))).toBe("paste");
  });

  it("leaves Ctrl+C (interrupt) and Ctrl+V to the shell", () => {
    expect(clipboardChord(key({ ctrlKey: true, code: "KeyC", key: "c" }))).toBeNull();
    expect(clipboardChord(key({ ctrlKey: true, code: "KeyV", key: "v" }))).toBeNull();
    expect(clipboardChord(key({ type: "keyup", ctrlKey: true, shiftKey: true, code: "KeyC" }))).toBeNull();
  });
});

it("says how the shell ended", () => {
  expect(exitLine(3)).toContain("exited (status 3)");
  expect(exitLine(NO_STATUS)).toContain("[disconnected]");
});

describe("OutputPacer", () => {
  const bytes = (n: number) => new Uint8Array(n).fill(120);
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("writes a small chunk (a keystroke's echo) at once, even right after a flood", () => {
    let now = 0;
    const written: number[] = [];
    const pacer = new OutputPacer((b) => written.push(b.length), () => now, 50, 8192);
    pacer.push(bytes(3));
    now += 1;
    pacer.push(bytes(2));
    expect(written).toEqual([3, 2]);
  });

  it("holds what follows a large write and writes it as one, once the interval is up", () => {
    let now = 0;
    const written: number[] = [];
    const pacer = new OutputPacer((b) => written.push(b.length), () => now, 50, 8192);
    pacer.push(bytes(16384));
    expect(written).toEqual([16384]);
    for (let i = 0; i < 10; i++) {
      now += 4;
      pacer.push(bytes(16384));
    }
    expect(written).toEqual([16384]);
    now = 50;
    vi.advanceTimersByTime(50);
    expect(written).toEqual([16384, 10 * 16384]);
  });

  it("never holds more than its cap, so a fast flood is not slowed to one write per interval", () => {
    let now = 0;
    const written: number[] = [];
    const pacer = new OutputPacer((b) => written.push(b.length), () => now, 50, 8192, 512 * 1024);
    pacer.push(bytes(256 * 1024));
    now += 1;
    pacer.push(bytes(256 * 1024));
    expect(written).toEqual([256 * 1024]);
    now += 1;
    pacer.push(bytes(256 * 1024));
    expect(written).toEqual([256 * 1024, 512 * 1024]);
  });

  it("keeps the bytes in order when it joins them", () => {
    let now = 0;
    const written: Uint8Array[] = [];
    const pacer = new OutputPacer((b) => written.push(b), () => now, 50, 4);
    pacer.push(new Uint8Array([1, 2, 3, 4]));
    pacer.push(new Uint8Array([5]));
    pacer.push(new Uint8Array([6, 7]));
    pacer.flush();
    expect(written.map((b) => Array.from(b))).toEqual([[1, 2, 3, 4], [5, 6, 7]]);
  });

  it("writes nothing after it is disposed", () => {
    const written: number[] = [];
    const pacer = new OutputPacer((b) => written.push(b.length), () => 0, 50, 4);
    pacer.push(bytes(8));
    pacer.push(bytes(8));
    pacer.dispose();
    vi.advanceTimersByTime(100);
    expect(written).toEqual([8]);
  });
});
