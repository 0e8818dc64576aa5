// Sessions whose supervisor died while nothing watched (Berth closed, the machine restarted):
// the Sessions page says so once at start, and not again after the user has read it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cli, click, run, screenshot, textOf, until, waitForText, withApp } from "./harness.mjs";

/** Reloads the window: the UI starts over as at an app start, on the same engine. */
async function restartUi(app) {
  await run(app, "window.__oldPage = true; setTimeout(() => location.reload(), 0); return true;");
  await until("the reloaded page", async () => (await run(app, "return window.__oldPage === undefined && document.readyState === 'complete';")) === true);
  await waitForText(app, "[data-testid=start-session], [data-testid=start-first-session]");
}

test("ended sessions: a session whose supervisor died while Berth was away is reported once on the Sessions page", async () => {
  await withApp("ended", {}, async (app) => {
    const id = cli(app, "session", "create", "--name", "doomed").trim();
    const state = JSON.parse(readFileSync(join(app.runtimeDir, id, "state.json"), "utf8"));
    // The supervisor this test started through the CLI, killed as a crash or reboot would.
    process.kill(state.supervisor_pid, "SIGKILL");
    await until("the supervisor gone", () => {
      try {
        process.kill(state.supervisor_pid, 0);
        return false;
      } catch {
        return true;
      }
    });

    await restartUi(app);
    await waitForText(app, "[data-testid=ended-unwatched]", "1 session ended while Berth was not running");
    await screenshot(app, "ended-unwatched-notice");
    await click(app, "[data-testid=ended-unwatched] button.secondary");
    await until("the finished list", async () => (await run(app, "return document.querySelector('[data-testid=filter-finished]').getAttribute('aria-selected');")) === "true");
    await waitForText(app, "tr[data-session=doomed]", "Error");
    assert.equal(await textOf(app, "[data-testid=ended-unwatched]"), null);

    // Read once: the next start says nothing more about it.
    await restartUi(app);
    await waitForText(app, "[data-testid=filter-finished]", "1");
    assert.equal(await textOf(app, "[data-testid=ended-unwatched]"), null, "reported again after it was read");
  });
});
