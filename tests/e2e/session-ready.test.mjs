// "Session ready" while the window is in the background: the desktop notification says it
// (the in-app toast waits in the window, with its Open terminal button, for when the user is back).
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli, click, notifications, requestClose, run, until, waitForText, windowShown, withApp } from "./harness.mjs";

/** The texts of the "Session … is ready" toasts on screen. */
const readyToasts = (app) =>
  run(app, "return [...document.querySelectorAll('[data-testid=toast][data-kind=session-ready]')].map((t) => t.textContent);");

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

test("session ready: the toast goes when its session is destroyed, from the drawer or from elsewhere", async () => {
  await withApp("session-ready-destroyed", {}, async (app) => {
    await waitForText(app, "nav", "");
    const first = await create(app, "toast-then-drawer");
    const second = await create(app, "toast-then-cli");
    try {
      await until("both toasts", async () => (await readyToasts(app)).length === 2);
      // Destroyed in its drawer: its toast goes at once, the other one stays.
      await click(app, "button[data-page=storage]");
      await click(app, "button[data-page=sessions]");
      await click(app, "tr[data-session=toast-then-drawer] [data-testid=session-link]");
      await click(app, "[data-testid=destroy-session]");
      await click(app, "[data-testid=confirm-button]");
      await waitForText(app, "[data-testid=drawer-status]", "Terminated", 20_000);
      await until("the destroyed session's toast gone", async () => {
        const left = await readyToasts(app);
        return left.length === 1 && left[0].includes("toast-then-cli");
      }, 5_000);
      // Destroyed from the CLI: the window notices and takes its toast away too.
      cli(app, "session", "destroy", second.id);
      await until("the other toast gone", async () => (await readyToasts(app)).length === 0, 10_000);
    } finally {
      for (const { id } of [first, second]) {
        try {
          cli(app, "session", "destroy", id);
        } catch {
          /* already destroyed */
        }
      }
    }
  });
});

test("session ready: the toast goes once a terminal of its session is open, however it was opened", async () => {
  await withApp("session-ready-opened", {}, async (app) => {
    await waitForText(app, "nav", "");
    const first = await create(app, "toast-then-terminal");
    const second = await create(app, "toast-stays");
    try {
      await until("both toasts", async () => (await readyToasts(app)).length === 2);
      // The terminal opened from the drawer, not from the toast: the toast's offer is done.
      await click(app, "button[data-page=storage]");
      await click(app, "button[data-page=sessions]");
      await click(app, "tr[data-session=toast-then-terminal] [data-testid=session-link]");
      await click(app, "[data-testid=execute-terminal]");
      await until("the shell", async () => (await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])')?.dataset.state;")) === "open");
      await until("the opened session's toast gone", async () => {
        const left = await readyToasts(app);
        return left.length === 1 && left[0].includes("toast-stays");
      }, 5_000);
    } finally {
      for (const { id } of [first, second]) {
        try {
          cli(app, "session", "destroy", id);
        } catch {
          /* already destroyed */
        }
      }
    }
  });
});
