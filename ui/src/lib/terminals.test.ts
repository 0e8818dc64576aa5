import { describe, expect, it, vi } from "vitest";

// The tab list never calls Rust for its tooltips; Tauri's IPC is only stubbed so it imports.
vi.mock("@tauri-apps/api/core", () => ({ Channel: class {}, invoke: vi.fn(() => new Promise(() => {})) }));

const { foreignEngine, tabTitle } = await import("./terminals.svelte");

const tab = { key: 1, sessionId: "id", sessionName: "train", number: 2, ended: null, transport: null, failure: null, engine: "" };

describe("a tab's engine", () => {
  it("is named on the tab once the window works with another engine, and always in its tooltip", () => {
    const cluster = { ...tab, engine: "Backend.AI · peer" };
    expect(foreignEngine(cluster, "Backend.AI · peer")).toBeNull();
    expect(foreignEngine(cluster, "Local engine")).toBe("Backend.AI · peer");
    expect(tabTitle(cluster)).toBe("train #2 on Backend.AI · peer");
  });
});

describe("tabTitle", () => {
  it("says how a cluster terminal is carried and why, and only the label for a local one", () => {
    expect(tabTitle(tab)).toBe("train #2");
    const transport = "ttyd in the session, through the manager's tcpproxy websocket. The App Proxy was not used: none here.";
    expect(tabTitle({ ...tab, transport })).toBe(`train #2: ${transport}`);
  });

  it("says why a terminal could not open, or why its shell ended, before the transport", () => {
    const failed = { ...tab, transport: "x", failure: "No terminal could be opened." };
    expect(tabTitle(failed)).toBe("train #2: could not open. No terminal could be opened.");
    const ended = { ...tab, transport: "x", ended: { short: "ended", message: "The session was destroyed." } };
    expect(tabTitle(ended)).toBe("train #2: The session was destroyed.");
  });
});
