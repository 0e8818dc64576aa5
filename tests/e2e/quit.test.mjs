// Closing the window with transfers unfinished asks first; without them it just closes. The
// close is requested as a window manager does it (WM_DELETE_WINDOW), not through WebDriver.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, click, requestClose, run, screenshot, textOf, until, waitForText, windowExists, withApp } from "./harness.mjs";

test("quitting with transfers unfinished warns; Keep running keeps the window, Quit quits", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-quit-"));
  const dataDir = join(home, "data");
  execFileSync(CLI, ["--data-dir", dataDir, "folder", "create", "w"]);
  // A sparse 3 GiB file: paused right after queuing, it is still far from done.
  const big = join(home, "big.bin");
  writeFileSync(big, "");
  truncateSync(big, 3 * 1024 ** 3);
  const small = join(home, "small.txt");
  writeFileSync(small, "small\n");

  await withApp("quit", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    await waitForText(app, "nav", "");
    // One transfer at a time: the small file waits behind the big one, so pausing all right
    // after queuing leaves both unfinished.
    const queued = await run(
      app,
      `const invoke = window.__TAURI_INTERNALS__.invoke;
       return invoke("set_transfer_concurrency", { limit: 1 })
         .then(() => invoke("upload_paths", { folder: "w", to: "", paths: arguments[0], conflict: null }))
         .then((batch) => invoke("control_transfer", { id: null, action: "pause" }).then(() => batch));`,
      [big, small],
    );
    assert.equal(queued.queued, 2);
    await until("both paused", async () =>
      (await run(app, "return document.querySelectorAll('[data-testid=transfer-panel] li[data-state=paused]').length;")) === 2,
    );

    requestClose(app);
    await waitForText(app, "[data-testid=confirm]", "2 transfers are still running. Quit anyway?");
    assert.equal(await textOf(app, "[data-testid=cancel-button]"), "Keep running");
    await screenshot(app, "quit-warning");
    await click(app, "[data-testid=cancel-button]");
    await until("the dialog closed", async () => (await textOf(app, "[data-testid=confirm]")) === null);
    assert.ok(windowExists(app), "Keep running keeps the window");
    assert.equal(await run(app, "return document.querySelectorAll('li[data-state=paused]').length;"), 2, "and the transfers");

    requestClose(app);
    await waitForText(app, "[data-testid=confirm]", "still running");
    // The app may be gone before WebDriver answers the click.
    await click(app, "[data-testid=confirm-button]").catch(() => {});
    await until("the app gone", () => !windowExists(app), 10_000);
  });
});

test("without unfinished transfers the window closes at once", async () => {
  await withApp("quit-idle", {}, async (app) => {
    await waitForText(app, "nav", "");
    assert.ok(windowExists(app));
    requestClose(app);
    await until("the window closed", () => !windowExists(app), 10_000);
  });
});
