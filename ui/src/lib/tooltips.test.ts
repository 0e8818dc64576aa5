import { describe, expect, it } from "vitest";
import { tooltipPlace } from "./tooltips";

const view = { width: 1200, height: 760 };

describe("tooltipPlace", () => {
  it("centres the tooltip under its element", () => {
    expect(tooltipPlace({ left: 500, top: 100, width: 100, height: 30 }, { width: 60, height: 20 }, view)).toEqual({ left: 520, top: 136 });
  });

  it("keeps it inside the window at the right edge (the Start button) and goes above at the bottom", () => {
    const place = tooltipPlace({ left: 1100, top: 730, width: 90, height: 24 }, { width: 140, height: 20 }, view);
    expect(place.left + 140).toBeLessThanOrEqual(1200);
    expect(place.top + 20).toBeLessThanOrEqual(730);
  });
});
