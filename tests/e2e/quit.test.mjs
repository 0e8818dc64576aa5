// Closing the window keeps work going: with transfers or sessions running it hides the window
// (the tray icon brings it back) and says so once; with nothing running it closes. Quitting
// (the tray menu's Quit, Ctrl+Q) asks while work runs, and sessions outlive the app. The close
// is requested as a window manager does it (WM_DELETE_WINDOW), not through WebDriver. Xvfb has
// no tray host, so the tray menu's Quit is reached through the same `request_quit` command.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CLI,
  cli,
  click,
  launchAgain,
  notifications,
  requestClose,
  run,
  screenshot,
  textOf,
  typeInto,
  until,
  waitForText,
  windowExists,
  windowShown,
  withApp,
} from "./harness.mjs";

const CONTROL = "\uE009";

test("closing with transfers unfinished hides the window; Quit asks, Keep running keeps it, Quit quits", async () => {
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
    await until("the window hidden", () => !windowShown(app), 10_000);
    assert.ok(windowExists(app), "the app keeps running");
    await until("the background notice", () =>
      notifications(app).some((n) => n.summary === "Berth is still running" && n.body.startsWith("2 transfers continue.")),
    );

    // The tray menu's Quit: the window comes back with the question.
    await run(app, "window.__TAURI_INTERNALS__.invoke('request_quit'); return true;");
    await until("the window shown again", () => windowShown(app), 10_000);
    await waitForText(app, "[data-testid=quit-question]", "2 transfers are still running. Quit anyway?");
    assert.equal(await textOf(app, "[data-testid=cancel-button]"), "Keep running");
    await screenshot(app, "quit-warning");
    await click(app, "[data-testid=cancel-button]");
    await until("the dialog closed", async () => (await textOf(app, "[data-testid=confirm]")) === null);
    assert.ok(windowShown(app), "Keep running keeps the window");
    assert.equal(await run(app, "return document.querySelectorAll('li[data-state=paused]').length;"), 2, "and the transfers");

    // Ctrl+Q asks the same.
    await typeInto(app, "button[data-page=sessions]", `${CONTROL}q${CONTROL}`);
    await waitForText(app, "[data-testid=quit-question]", "still running");
    // The app may be gone before WebDriver answers the click.
    await click(app, "[data-testid=confirm-button]").catch(() => {});
    await until("the app gone", () => !windowExists(app), 10_000);
  });
});

test("with a session running, closing hides the window and quitting leaves the session running", async () => {
  await withApp("quit-session", {}, async (app) => {
    await waitForText(app, "nav", "");
    const session = await run(
      app,
      "return window.__TAURI_INTERNALS__.invoke('create_session', { spec: { name: 'outlives-app', session_type: 'interactive', environment: 'host', mounts: [], command: null, runtime: null } });",
    );
    assert.equal(session.status, "running");
    try {
      requestClose(app);
      await until("the window hidden", () => !windowShown(app), 10_000);
      await until("the background notice", () =>
        notifications(app).some((n) => n.summary === "Berth is still running" && n.body.startsWith("1 session continues.")),
      );
      // Launching Berth again (how a user without a tray icon gets back) shows this window.
      launchAgain(app);
      await until("the window shown by the second launch", () => windowShown(app), 10_000);
      requestClose(app);
      await until("the window hidden again", () => !windowShown(app), 10_000);
      await run(app, "window.__TAURI_INTERNALS__.invoke('request_quit'); return true;");
      await waitForText(app, "[data-testid=quit-question]", "1 session keeps running after Berth quits");
      await screenshot(app, "quit-with-session");
      await click(app, "[data-testid=confirm-button]").catch(() => {});
      await until("the app gone", () => !windowExists(app), 10_000);
      const listed = JSON.parse(cli(app, "--json", "session", "list"));
      assert.equal(listed.find((s) => s.id === session.id)?.status, "running", "the session outlives the app");
    } finally {
      cli(app, "session", "destroy", session.id);
    }
  });
});

test("without anything running the window closes at once", async () => {
  await withApp("quit-idle", {}, async (app) => {
    await waitForText(app, "nav", "");
    assert.ok(windowExists(app));
    requestClose(app);
    await until("the window closed", () => !windowExists(app), 10_000);
  });
});
