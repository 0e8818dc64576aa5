import { describe, expect, it } from "vitest";
import { terminalEnd } from "./terminal";

const session = (status: string, status_detail: string | null = null) => ({ name: "walk", status, status_detail });

describe("terminalEnd: what a tab says when its shell ends", () => {
  it("a destroyed session (or one being destroyed) took the shell with it", () => {
    expect(terminalEnd(137, session("terminated"))).toEqual({ short: "destroyed", message: "Session walk was destroyed; this shell ended with it." });
    expect(terminalEnd(137, session("terminating")).short).toBe("destroyed");
  });

  it("a session that stopped by itself says why", () => {
    expect(terminalEnd(137, session("error", "its supervisor stopped"))).toEqual({ short: "ended", message: "Session walk stopped: its supervisor stopped" });
  });

  it("a running session means the shell exited on its own", () => {
    expect(terminalEnd(0, session("running"))).toEqual({ short: "exited", message: "The shell exited (status 0). Session walk is still running." });
  });

  it("a session no longer known is gone", () => {
    expect(terminalEnd(137, null).short).toBe("ended");
  });
});
