// Storage folders in the window: create with the dialog (live rule checks included), see what
// the engine holds, move to the trash and back, delete forever.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, clear, click, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const rowNames = (app, table = "folders-table") =>
  run(app, `return [...document.querySelectorAll('[data-testid=${table}] tbody tr')].map((r) => r.dataset.folder);`);

test("create folders with the dialog, with the name rules checked as you type", async () => {
  await withApp("folders-create", {}, async (app) => {
    await click(app, "button[data-page=storage]");
    await waitForText(app, "[data-testid=folders-empty]", "No storage folders yet.");
    await click(app, "[data-testid=create-first-folder]");
    await waitForText(app, "[data-testid=create-folder]", "Create a storage folder");

    // A broken rule shows while typing and blocks Create; nothing reaches the disk.
    await typeInto(app, "[data-testid=create-folder] input[name=name]", "a/b");
    await waitForText(app, "[data-testid=folder-name-help]", "contains '/'");
    assert.equal(await run(app, "return document.querySelector('[data-testid=create-folder] button[type=submit]').disabled;"), true);
    await screenshot(app, "folders-create-invalid-name");

    // Too long: the rule is said (the field does not silently cut the name at 64), Create is
    // blocked, and the hint wraps inside the dialog instead of widening it.
    await clear(app, "[data-testid=create-folder] input[name=name]");
    const long = "experiment-results-of-the-whole-quarter-with-every-run-and-its-logs-kept";
    await typeInto(app, "[data-testid=create-folder] input[name=name]", long);
    await waitForText(app, "[data-testid=folder-name-help]", "longer than 64 characters");
    assert.equal(await run(app, "return document.querySelector('[data-testid=create-folder] input[name=name]').value;"), long);
    assert.equal(await run(app, "return document.querySelector('[data-testid=create-folder] button[type=submit]').disabled;"), true);
    const overflow = "const f = document.querySelector('[data-testid=create-folder] form'); return f.scrollWidth - f.clientWidth;";
    assert.equal(await run(app, overflow), 0, "nothing in the dialog is wider than the dialog");
    await clear(app, "[data-testid=create-folder] input[name=name]");
    await typeInto(app, "[data-testid=create-folder] input[name=name]", long.slice(0, 64));
    await waitForText(app, "[data-testid=folder-mount-target]", `/home/work/${long.slice(0, 64)}`);
    assert.equal(await run(app, overflow), 0, "a long mount target wraps inside the dialog");
    await screenshot(app, "folders-create-long-name");

    await clear(app, "[data-testid=create-folder] input[name=name]");
    await typeInto(app, "[data-testid=create-folder] input[name=name]", "user1-ml-test");
    await waitForText(app, "[data-testid=folder-name-help]", "/home/work/user1-ml-test");
    await click(app, "[data-testid=create-folder] button[type=submit]");
    await until("the new folder in the table", async () => (await rowNames(app))?.includes("user1-ml-test"));
    assert.equal(await textOf(app, "[data-testid=create-folder]"), null, "the dialog closed");

    // The same name again is refused in the dialog with the engine's message.
    await click(app, "[data-testid=new-folder]");
    await typeInto(app, "[data-testid=create-folder] input[name=name]", "user1-ml-test");
    await click(app, "[data-testid=create-folder] button[type=submit]");
    await waitForText(app, "[data-testid=folder-name-help]", "already exists");
    await clear(app, "[data-testid=create-folder] input[name=name]");
    await typeInto(app, "[data-testid=create-folder] input[name=name]", ".local");
    await waitForText(app, "[data-testid=folder-name-help]", "mounted into every session");
    await click(app, "[data-testid=create-folder] button[type=submit]");
    await until("both folders listed", async () => (await rowNames(app))?.length === 2);
    assert.match(await textOf(app, "tr[data-folder='.local']"), /auto-mount/);
    await screenshot(app, "folders-table");

    // Each folder is a real directory in the engine's store.
    const store = join(app.dataDir, "folders");
    assert.equal(readdirSync(store).length, 2);
  });
});

test("the table shows folders the CLI made, and the trash round trip works", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-cli-"));
  const dataDir = join(home, "data");
  const berth = (...args) => execFileSync(CLI, ["--data-dir", dataDir, ...args], { encoding: "utf8" });
  berth("folder", "create", "user2-vfolder", "--usage-mode", "data", "--cloneable");
  berth("folder", "create", "results");
  const path = JSON.parse(berth("--json", "folder", "info", "results")).path;
  writeFileSync(join(path, "a.csv"), "1,2,3");

  await withApp("folders-trash", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    await click(app, "button[data-page=storage]");
    await until("the CLI's folders", async () => (await rowNames(app))?.length === 2);
    // Sizes are counted by the engine: 5 bytes written into "results" through its directory.
    await waitForText(app, "tr[data-folder=results] [data-testid=folder-size]", "5 B");
    assert.match(await textOf(app, "tr[data-folder=user2-vfolder]"), /Data/);

    // Clone: the proposed name is accepted as it is.
    await click(app, "tr[data-folder=user2-vfolder] [data-testid=clone-folder]");
    await waitForText(app, "[data-testid=clone-dialog]", "Clone “user2-vfolder”");
    await click(app, "[data-testid=clone-dialog] button[type=submit]");
    await until("the clone listed", async () => (await rowNames(app))?.includes("user2-vfolder-copy"));
    await click(app, "tr[data-folder=user2-vfolder-copy] button.danger-text");
    await click(app, "[data-testid=confirm-button]");
    await until("the clone trashed", async () => (await rowNames(app))?.length === 2);

    await typeInto(app, "[data-testid=folder-search]", "VFOLD");
    await until("search narrows the table", async () => (await rowNames(app))?.join() === "user2-vfolder");
    await clear(app, "[data-testid=folder-search]");

    await click(app, "tr[data-folder=results] button.danger-text");
    await waitForText(app, "[data-testid=confirm]", "Move “results” to the trash?");
    await click(app, "[data-testid=confirm-button]");
    await until("results leaves the table", async () => (await rowNames(app))?.join() === "user2-vfolder");
    assert.ok(existsSync(path), "trash keeps the files");

    await click(app, "[data-testid=tab-trash]");
    // Most recently trashed first.
    await until("results in the trash", async () => (await rowNames(app, "trash-table"))?.join() === "results,user2-vfolder-copy");
    await screenshot(app, "folders-trash");
    await click(app, "tr[data-folder=results] button.danger-text");
    await waitForText(app, "[data-testid=confirm]", "cannot be undone");
    await click(app, "[data-testid=confirm-button]");
    await until("results purged", async () => (await rowNames(app, "trash-table"))?.join() === "user2-vfolder-copy");
    assert.ok(!existsSync(path), "delete forever removed the directory");
  });
  assert.equal(JSON.parse(berth("--json", "folder", "list")).length, 1, "the CLI sees what the window did");
});
