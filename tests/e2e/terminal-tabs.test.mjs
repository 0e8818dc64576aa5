// Terminal tabs: five of them stay in reach in the window the tests use (1200×760), and a tab
// whose session was destroyed says so, with a way to close it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli, click, run, screenshot, until, waitForText, withApp } from "./harness.mjs";

const create = (app, name) =>
  run(
    app,
    "return window.__TAURI_INTERNALS__.invoke('create_session', { spec: { name: arguments[0], session_type: 'interactive', environment: 'host', mounts: [], command: null, runtime: null, network: 'none' } });",
    name,
  );

/** Each tab's label and whether all of it (close button included) lies inside the visible strip. */
const tabsInReach = (app) =>
  run(
    app,
    `const strip = document.querySelector('[role=tablist]').getBoundingClientRect();
     return [...document.querySelectorAll('[role=tablist] .tab')].map((tab) => {
       const box = tab.getBoundingClientRect();
       const close = tab.querySelector('[data-testid=close-terminal-tab]').getBoundingClientRect();
       return { label: tab.innerText.trim(), inReach: box.left >= strip.left - 0.5 && close.right <= strip.right + 0.5 && close.width > 0 };
     });`,
  );

test("terminal tabs: five stay in reach; a destroyed session's tab says so and offers Close", async () => {
  await withApp("terminal-tabs", {}, async (app) => {
    await waitForText(app, "nav", "");
    const session = await create(app, "keyboard-walkthrough");
    try {
      await click(app, "button[data-page=storage]");
      await click(app, "button[data-page=sessions]");
      await click(app, "tr[data-session=keyboard-walkthrough] [data-testid=session-link]");
      await waitForText(app, "[data-testid=drawer-status]", "Running", 20_000);
      for (let i = 1; i <= 5; i++) {
        await click(app, "button[data-page=sessions]");
        await click(app, "[data-testid=execute-terminal]");
        await until(`tab ${i}`, async () => (await run(app, "return document.querySelectorAll('[data-testid=terminal-tab]').length;")) === i);
      }
      await until("the fifth shell", () => run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])')?.dataset.state === 'open';"));
      const tabs = await tabsInReach(app);
      assert.equal(tabs.length, 5);
      assert.equal((await run(app, "return document.querySelector('[data-testid=terminal-tab]').innerText;")).trim(), "keyboard-walkthrough #1");
      assert.deepEqual(tabs.filter((t) => !t.inReach).map((t) => t.label), [], "tabs cut off at the strip's right edge");
      await screenshot(app, "terminal-tabs-five");

      // Destroyed in its drawer: every tab of it says "destroyed", the open one explains and offers Close.
      await click(app, "button[data-page=sessions]");
      await click(app, "[data-testid=destroy-session]");
      await click(app, "[data-testid=confirm-button]");
      await waitForText(app, "[data-testid=drawer-status]", "Terminated", 20_000);
      await click(app, "button[data-page=terminals]");
      await until("the tabs marked ended", async () =>
        (await run(app, "return [...document.querySelectorAll('[data-testid=terminal-tab-ended]')].map((m) => m.innerText.trim());")).join() ===
        "destroyed,destroyed,destroyed,destroyed,destroyed",
      20_000);
      await waitForText(app, "[data-testid=terminal]:not([hidden]) [data-testid=terminal-ended]", "Session keyboard-walkthrough was destroyed");
      await screenshot(app, "terminal-tabs-destroyed");
      await click(app, "[data-testid=terminal]:not([hidden]) [data-testid=close-ended-tab]");
      await until("one tab fewer", async () => (await run(app, "return document.querySelectorAll('[data-testid=terminal-tab]').length;")) === 4);
    } finally {
      try {
        cli(app, "session", "destroy", session.id);
      } catch {
        /* destroyed above */
      }
    }
  });
});
