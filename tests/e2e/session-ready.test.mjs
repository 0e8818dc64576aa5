// "Session ready" while the window is in the background: the desktop notification says it
// (the in-app toast waits in the window, with its Open terminal button, for when the user is back).
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli, notifications, requestClose, run, until, waitForText, windowShown, withApp } from "./harness.mjs";

const create = (app, name) =>
  run(
    app,
    "return window.__TAURI_INTERNALS__.invoke('create_session', { spec: { name: arguments[0], session_type: 'interactive', environment: 'host', mounts: [], command: null, runtime: null, network: 'none' } });",
    name,
  );

test("session ready: with the window hidden, a session the app launched is announced on the desktop", async () => {
  await withApp("session-ready", {}, async (app) => {
    await waitForText(app, "nav", "");
    // A running session keeps the app alive when its window closes.
    const first = await create(app, "keeps-app-open");
    const ids = [first.id];
    try {
      requestClose(app);
      await until("the window hidden", () => !windowShown(app), 10_000);
      const second = await create(app, "ready-in-background");
      ids.push(second.id);
      await until("the desktop notification", () =>
        notifications(app).some((n) => n.summary === "Session ready-in-background is ready" && n.body.includes("terminal")),
      );
      const toasts = await run(app, "return [...document.querySelectorAll('[data-testid=toast][data-kind=session-ready]')].map((t) => t.textContent);");
      assert.ok(
        toasts.some((t) => t.includes("Session ready-in-background is ready") && t.includes("Open terminal")),
        `the toast waits in the window: ${JSON.stringify(toasts)}`,
      );
    } finally {
      for (const id of ids) cli(app, "session", "destroy", id);
    }
  });
});
