import { describe, expect, it } from "vitest";
import { dismissOffersAbout, showToast, toasts } from "./toasts.svelte";

describe("toasts about a session that ended", () => {
  it("lose their offers but keep the news of how it ended, whichever came first", () => {
    toasts.list.length = 0;
    showToast("session-stopped", "Session a stopped: its container is gone", null, { subject: "a" });
    showToast("session-ready", "Session a is ready", null, { subject: "a" });
    showToast("session-ending", "Session a ends in 5 min", null, { subject: "a" });
    showToast("session-ready", "Session b is ready", null, { subject: "b" });
    dismissOffersAbout("a");
    expect(toasts.list.map((t) => `${t.subject}:${t.kind}`)).toEqual(["a:session-stopped", "b:session-ready"]);
  });
});
