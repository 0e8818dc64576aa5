import { describe, expect, it } from "vitest";
import { WINDOW_FROM, rowWindow } from "./windowed";

describe("rowWindow", () => {
  it("draws a short list whole", () => {
    expect(rowWindow(WINDOW_FROM, 48, -5000, 700)).toEqual({ start: 0, end: WINDOW_FROM, before: 0, after: 0 });
  });

  it("draws the rows on screen and a few around them, with the rest's height kept", () => {
    // 200 rows of 50 px, the list starting 100 px down a 600 px view: rows 0–9 show, 8 more.
    expect(rowWindow(200, 50, 100, 600)).toEqual({ start: 0, end: 18, before: 0, after: 182 * 50 });
    // Scrolled 3000 px down: row 60 is at the top.
    const middle = rowWindow(200, 50, -3000, 600);
    expect(middle).toEqual({ start: 52, end: 80, before: 52 * 50, after: 120 * 50 });
    expect(middle.before + (middle.end - middle.start) * 50 + middle.after).toBe(200 * 50);
    // Past the end: the last rows, never beyond.
    expect(rowWindow(200, 50, -20_000, 600)).toEqual({ start: 200, end: 200, before: 200 * 50, after: 0 });
    expect(rowWindow(200, 50, -9_800, 600).end).toBe(200);
  });
});
