// The explorer: browse a folder's real contents, links shown but never followed out of the
// folder, a large directory rendered virtually, and mkdir / rename / delete from the toolbar.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, click, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";
const CONTROL = "\uE009";
const SHIFT = "\uE008";
const ESCAPE = "\uE00C";
const ARROW_DOWN = "\uE015";
const rowNames = (app) =>
  run(app, "return [...document.querySelectorAll('[data-testid=explorer-rows] [role=row]')].map((r) => r.dataset.name);");

/** Ctrl+click on the first element matching `css`: adds it to the selection, as a user does. */
async function controlClick(app, css) {
  const call = async (method, path, body) => {
    const response = await fetch(`${app.base}/session/${app.session}${path}`, {
      method,
      headers: body ? { "content-type": "application/json" } : undefined,
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(15_000),
    });
    const parsed = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(`WebDriver ${method} ${path} → ${response.status}: ${JSON.stringify(parsed)}`);
    return parsed.value;
  };
  const found = await call("POST", "/element", { using: "css selector", value: css });
  const origin = { "element-6066-11e4-a52e-4f735466cecf": found["element-6066-11e4-a52e-4f735466cecf"] };
  await call("POST", "/actions", {
    actions: [
      {
        type: "key",
        id: "keyboard",
        actions: [{ type: "keyDown", value: CONTROL }, { type: "pause" }, { type: "pause" }, { type: "pause" }, { type: "keyUp", value: CONTROL }],
      },
      {
        type: "pointer",
        id: "mouse",
        parameters: { pointerType: "mouse" },
        actions: [
          { type: "pause" },
          { type: "pointerMove", duration: 0, origin, x: 0, y: 0 },
          { type: "pointerDown", button: 0 },
          { type: "pointerUp", button: 0 },
          { type: "pause" },
        ],
      },
    ],
  });
  await call("DELETE", "/actions");
}

async function openEntry(app, name) {
  await click(app, `[data-testid=explorer-rows] [data-name='${name}']`);
  await typeInto(app, "[data-testid=explorer-rows]", ENTER);
}

test("browse, manage and stay inside a folder in the explorer", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-explorer-"));
  const dataDir = join(home, "data");
  const berth = (...args) => execFileSync(CLI, ["--data-dir", dataDir, ...args], { encoding: "utf8" });
  berth("folder", "create", "user2-vfolder");
  const root = JSON.parse(berth("--json", "folder", "info", "user2-vfolder")).path;
  writeFileSync(join(root, "test_file"), "file inside user2-vfolder\n");
  mkdirSync(join(root, "results/run1"), { recursive: true });
  // A directory of the test's own outside the folder, for a link that leads out of it.
  const outside = join(home, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "keep.txt"), "outside the folder\n");
  symlinkSync(outside, join(root, "escape"));
  mkdirSync(join(root, "many"));
  for (let i = 0; i < 2000; i++) writeFileSync(join(root, "many", `f${String(i).padStart(4, "0")}.txt`), "x");

  await withApp("explorer", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    await click(app, "button[data-page=storage]");
    await waitForText(app, "tr[data-folder=user2-vfolder]", "user2-vfolder");
    await click(app, "tr[data-folder=user2-vfolder] .folder-link");
    await waitForText(app, "[data-testid=explorer-count]", "4 items");
    assert.deepEqual(await rowNames(app), ["many", "results", "escape", "test_file"], "directories first");
    assert.ok((await textOf(app, "[data-name=escape]")).includes(`→ ${outside}`), "the link's target is shown");
    assert.match(await textOf(app, "[data-name=test_file]"), /26 B/);
    await screenshot(app, "explorer");

    // The link out of the folder is listed, but opening it is refused: nothing outside is read.
    await openEntry(app, "escape");
    await waitForText(app, "[role=alert]", "leads outside folder \"user2-vfolder\"");
    await click(app, "[data-testid=crumb-root]");
    await waitForText(app, "[data-testid=explorer-count]", "4 items");

    // 2,000 entries: the count is complete, the DOM holds only what is on screen.
    await openEntry(app, "many");
    const count = await until("the big directory's count", async () => {
      const text = await textOf(app, "[data-testid=explorer-count]");
      return /^2\D?000 items/.test(text ?? "") ? text : null;
    });
    assert.ok(count, "all 2,000 entries are counted");
    const rendered = (await rowNames(app)).length;
    assert.ok(rendered > 10 && rendered < 100, `rendered ${rendered} rows`);
    await run(app, "const r = document.querySelector('[data-testid=explorer-rows]'); r.scrollTop = r.scrollHeight;");
    await until("the last entry after scrolling", async () => (await rowNames(app)).includes("f1999.txt"));
    // Ctrl+F finds by name, ignoring case; arrows and selection see only the matches; Escape
    // brings everything back.
    await typeInto(app, "[data-testid=explorer-rows]", `${CONTROL}f${CONTROL}`);
    await until("the filter focused", async () => (await run(app, "return document.activeElement?.dataset.testid;")) === "explorer-filter");
    await typeInto(app, "[data-testid=explorer-filter]", "F199");
    await waitForText(app, "[data-testid=explorer-count]", "10 of 2");
    assert.deepEqual(await rowNames(app), Array.from({ length: 10 }, (_, i) => `f199${i}.txt`));
    await screenshot(app, "explorer-find");
    await typeInto(app, "[data-testid=explorer-filter]", ARROW_DOWN);
    await typeInto(app, "[data-testid=explorer-rows]", `${ARROW_DOWN}${SHIFT}${ARROW_DOWN}${SHIFT}`);
    await waitForText(app, "[data-testid=explorer-count]", "2 selected");
    assert.deepEqual(
      await run(app, "return [...document.querySelectorAll('[role=row][aria-selected=true]')].map((r) => r.dataset.name);"),
      ["f1991.txt", "f1992.txt"],
    );
    await typeInto(app, "[data-testid=explorer-rows]", ESCAPE);
    await until("every entry back", async () => /^2\D?000 items/.test((await textOf(app, "[data-testid=explorer-count]")) ?? ""));
    assert.equal(await run(app, "return document.querySelector('[data-testid=explorer-filter]').value;"), "");
    await typeInto(app, "[data-testid=explorer-rows]", "\uE003"); // Backspace: up one level
    await waitForText(app, "[data-testid=explorer-count]", "4 items");

    await click(app, "[data-testid=explorer-mkdir]");
    await typeInto(app, "[data-testid=explorer-mkdir-dialog] input", "new/nested");
    await click(app, "[data-testid=explorer-mkdir-dialog] button[type=submit]");
    await waitForText(app, "[data-testid=explorer-count]", "5 items");
    assert.ok(existsSync(join(root, "new/nested")));

    await click(app, "[data-name=test_file]");
    await click(app, "[data-testid=explorer-rename]");
    // The name starts selected (typing would replace it): End, then add the extension.
    await typeInto(app, "[data-testid=explorer-rename-dialog] input", "\uE010.txt");
    await click(app, "[data-testid=explorer-rename-dialog] button[type=submit]");
    await until("the renamed file", async () => (await rowNames(app)).includes("test_file.txt"));
    assert.equal(readFileSync(join(root, "test_file.txt"), "utf8"), "file inside user2-vfolder\n");

    // Deleting the link (with a directory) removes the link itself, never what it leads to.
    await click(app, "[data-name=escape]");
    await controlClick(app, "[data-name=results]");
    await waitForText(app, "[data-testid=explorer-count]", "2 selected");
    await click(app, "[data-testid=explorer-delete]");
    await waitForText(app, "[data-testid=confirm]", "Delete 2 items?");
    await click(app, "[data-testid=confirm-button]");
    await waitForText(app, "[data-testid=explorer-count]", "3 items");
    assert.deepEqual(await rowNames(app), ["many", "new", "test_file.txt"]);
    assert.ok(!existsSync(join(root, "results")));
    assert.throws(() => lstatSync(join(root, "escape")), { code: "ENOENT" }, "the link itself is gone");
    assert.deepEqual(readdirSync(outside), ["keep.txt"], "what the link led to is untouched");
    assert.equal(readFileSync(join(outside, "keep.txt"), "utf8"), "outside the folder\n");
  });
});
