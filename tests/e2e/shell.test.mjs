// The app shell: a fresh start on the local engine shows both pages with what the engine
// really returns, and an engine that cannot open is explained rather than hidden.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { click, run, screenshot, textOf, waitForText, withApp } from "./harness.mjs";

test("a fresh start shows the local engine and both pages' empty states", async () => {
  await withApp("fresh-start", {}, async (app) => {
    const status = await waitForText(app, "[data-testid=status-bar]", "Local engine");
    assert.ok(status.includes(app.dataDir), `status bar names the data dir ${app.dataDir}: ${status}`);

    const sessions = await waitForText(app, "[data-testid=sessions-empty]", "No compute sessions yet.");
    assert.match(sessions, /mounted folder/);
    assert.equal(await textOf(app, "[aria-current=page]"), "Sessions");
    await screenshot(app, "sessions");

    await click(app, "button[data-page=storage]");
    await waitForText(app, "[data-testid=folders-empty]", "No storage folders yet.");
    assert.equal(await textOf(app, "[data-testid=create-first-folder]"), "Create one");
    assert.equal(await textOf(app, "[aria-current=page]"), "Data & Storage");
    assert.equal(await textOf(app, "[data-testid=folders-table]"), null, "no folder rows on a fresh engine");
    await screenshot(app, "data-and-storage");

    await click(app, "button[data-page=sessions]");
    await waitForText(app, "[data-testid=sessions-empty]", "No compute sessions yet.");

    // The strict CSP is in force: a script injected inline into the page does not run.
    const ran = await run(
      app,
      "const s = document.createElement('script'); s.textContent = 'window.__inlineRan = true'; document.head.appendChild(s); return window.__inlineRan === true;",
    );
    assert.equal(ran, false, "inline scripts are blocked");
    assert.equal(await run(app, "return matchMedia('(prefers-color-scheme: dark)').matches;"), false);
    assert.equal(await run(app, "return getComputedStyle(document.body).backgroundColor;"), "rgb(255, 255, 255)");
  });
});

test("the window follows the desktop's dark theme", async () => {
  await withApp("dark-theme", { env: { GTK_THEME: "Adwaita:dark" } }, async (app) => {
    await waitForText(app, "[data-testid=status-bar]", "Local engine");
    assert.equal(await run(app, "return matchMedia('(prefers-color-scheme: dark)').matches;"), true);
    const [r, g, b] = (await run(app, "return getComputedStyle(document.body).backgroundColor;")).match(/\d+/g).map(Number);
    assert.ok(r + g + b < 150, `a dark background, got rgb(${r}, ${g}, ${b})`);
    await click(app, "button[data-page=storage]");
    await waitForText(app, "[data-testid=folders-empty]", "No storage folders yet.");
    await screenshot(app, "dark-theme");
  });
});

test("an unusable data directory is explained on every page, not shown as empty", async () => {
  const scratch = mkdtempSync(join(tmpdir(), "berth-e2e-bad-"));
  const blocker = join(scratch, "a-file");
  writeFileSync(blocker, "not a directory");
  const dataDir = join(blocker, "data");
  await withApp("engine-unavailable", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    const status = await waitForText(app, "[data-testid=status-bar]", "Engine unavailable");
    assert.ok(status.includes(blocker), `names the path: ${status}`);
    const notice = await waitForText(app, "[role=alert][data-error-code=engine_unavailable]", "The engine is unavailable");
    assert.match(notice, /--data-dir or BERTH_DATA_DIR/);
    assert.equal(await textOf(app, "[data-testid=sessions-empty]"), null);
    await click(app, "button[data-page=storage]");
    await waitForText(app, "[role=alert][data-error-code=engine_unavailable]", dataDir);
    await screenshot(app, "engine-unavailable");
  });
});
