import { describe, expect, it } from "vitest";
import { NO_STATUS, endSettled, terminalEnd } from "./terminal";

const session = (status: string, status_detail: string | null = null) => ({ name: "walk", status, status_detail });

describe("terminalEnd: what a tab says when its shell ends", () => {
  it("a destroyed session took the shell with it", () => {
    expect(terminalEnd(137, session("terminated"))).toEqual({ short: "destroyed", message: "Session walk was destroyed; this shell ended with it." });
  });

  it("a session still ending is not yet called destroyed: a cluster's dying kernel passes through it too", () => {
    const ending = terminalEnd(NO_STATUS, session("terminating"));
    expect(ending).toEqual({ short: "ending", message: "Session walk is ending; this shell ended with it." });
    expect(endSettled(ending)).toBe(false);
    expect(endSettled(terminalEnd(NO_STATUS, session("error", "The cluster ended it: its container stopped on its own (TERMINATED self-terminated).")))).toBe(true);
  });

  it("a session that stopped by itself says why", () => {
    expect(terminalEnd(137, session("error", "its supervisor stopped"))).toEqual({ short: "ended", message: "Session walk stopped: its supervisor stopped" });
  });

  it("no status from a running session is a lost connection, not an exit", () => {
    expect(terminalEnd(NO_STATUS, session("running"))).toEqual({
      short: "disconnected",
      message: "Lost the connection to this shell. Session walk is still running: open a new terminal to reach it.",
    });
  });

  it("a running session means the shell exited on its own", () => {
    expect(terminalEnd(0, session("running"))).toEqual({ short: "exited", message: "The shell exited (status 0). Session walk is still running." });
  });

  it("a session no longer known is gone", () => {
    expect(terminalEnd(137, null).short).toBe("ended");
  });
});
