// Keeping a project directory in step with a folder from the window: Storage → Syncs → Add
// sync, and a file saved in the directory is in the folder a moment later; ignored files stay
// here; Pause stops sending and Resume catches up; quitting says the sync stops; Remove
// forgets it and deletes nothing. The same list as `berth sync list`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, click, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

test("syncs: a directory added in the window is sent as it changes; pause, resume, remove", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-syncs-"));
  const dataDir = join(home, "data");
  const berth = (...args) => execFileSync(CLI, ["--data-dir", dataDir, ...args], { encoding: "utf8" });
  berth("folder", "create", "proj");
  const folder = JSON.parse(berth("--json", "folder", "info", "proj")).path;
  const code = join(folder, "code");
  const project = join(home, "project");
  mkdirSync(join(project, "src"), { recursive: true });
  writeFileSync(join(project, "train.py"), "print('v1')\n");
  writeFileSync(join(project, "src", "model.py"), "class Model: ...\n");
  const holds = (path, text) => existsSync(path) && readFileSync(path, "utf8") === text;
  const state = () => textOf(app, "[data-testid=sync-state]");
  let app;

  await withApp("syncs", { env: { BERTH_DATA_DIR: dataDir } }, async (opened) => {
    app = opened;
    await click(app, "button[data-page=storage]");
    await click(app, "[data-testid=tab-syncs]");
    await waitForText(app, "[data-testid=syncs-empty]", "No syncs yet");
    await click(app, "[data-testid=add-sync]");
    await typeInto(app, "[data-testid=sync-local]", project);
    await until("the folder offered", () => run(app, "return document.querySelector('[data-testid=sync-folder]').value === 'proj';"), 10_000);
    await typeInto(app, "[data-testid=sync-path]", "code");
    await typeInto(app, "[data-testid=sync-ignore]", "*.log");
    await screenshot(app, "syncs-form");
    await click(app, "[data-testid=sync-submit]");

    await until("the first pass in the folder", () => holds(join(code, "src", "model.py"), "class Model: ...\n"), 15_000);
    await until("the row in sync", async () => (await state())?.startsWith("In sync since"), 15_000);
    // The same list the CLI reads.
    const listed = JSON.parse(berth("--json", "sync", "list"));
    assert.equal(listed.length, 1);
    assert.equal(listed[0].folder, "proj");

    writeFileSync(join(project, "train.py"), "print('v2, saved')\n");
    writeFileSync(join(project, "run.log"), "noise\n");
    await until("the saved file in the folder", () => holds(join(code, "train.py"), "print('v2, saved')\n"), 10_000);
    assert.ok(!existsSync(join(code, "run.log")), "an ignored file stays here");
    await screenshot(app, "syncs-in-sync");

    await click(app, "[data-testid=sync-pause]");
    await waitForText(app, "[data-testid=sync-state]", "Paused");
    // The runner lets go within a second; what is saved meanwhile waits.
    await new Promise((r) => setTimeout(r, 1500));
    writeFileSync(join(project, "paused.py"), "while paused\n");
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(!existsSync(join(code, "paused.py")), "a paused sync sends nothing");
    await click(app, "[data-testid=sync-resume]");
    await until("the catch-up after resume", () => holds(join(code, "paused.py"), "while paused\n"), 15_000);

    // Quitting names the sync.
    await run(app, "window.__TAURI_INTERNALS__.invoke('request_quit'); return true;");
    await waitForText(app, "[data-testid=quit-syncs]", "1 sync stops until Berth starts again");
    await click(app, "[data-testid=cancel-button]");

    await click(app, "[data-testid=sync-remove]");
    await click(app, "[data-testid=confirm-button]");
    await waitForText(app, "[data-testid=syncs-empty]", "No syncs yet");
    assert.deepEqual(JSON.parse(berth("--json", "sync", "list")), []);
    assert.ok(holds(join(code, "train.py"), "print('v2, saved')\n") && existsSync(join(project, "train.py")), "nothing deleted");
  });
});

test("syncs: a two-way sync brings a session's files here and shows a conflict in its row", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-syncs-both-"));
  const dataDir = join(home, "data");
  const berth = (...args) => execFileSync(CLI, ["--data-dir", dataDir, ...args], { encoding: "utf8" });
  berth("folder", "create", "proj");
  const folder = JSON.parse(berth("--json", "folder", "info", "proj")).path;
  const project = join(home, "project");
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, "notes.md"), "v1\n");
  const holds = (path, text) => existsSync(path) && readFileSync(path, "utf8") === text;

  await withApp("syncs-both", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    const state = () => textOf(app, "[data-testid=sync-state]");
    await click(app, "button[data-page=storage]");
    await click(app, "[data-testid=tab-syncs]");
    await click(app, "[data-testid=add-sync]");
    await typeInto(app, "[data-testid=sync-local]", project);
    await until("the folder offered", () => run(app, "return document.querySelector('[data-testid=sync-folder]').value === 'proj';"), 10_000);
    await run(app, `const s = document.querySelector('[data-testid=sync-direction]'); s.value = 'both'; s.dispatchEvent(new Event('change')); return true;`);
    await waitForText(app, "[data-testid=sync-form]", "Mirror deletions both ways");
    await click(app, "[data-testid=sync-submit]");
    await until("the first pass", () => holds(join(folder, "notes.md"), "v1\n"), 15_000);
    await waitForText(app, "[data-testid=sync-way]", "↔");

    // A session writes in the folder: it arrives here.
    writeFileSync(join(folder, "metrics.json"), "{}\n");
    await until("the session's file here", () => holds(join(project, "metrics.json"), "{}\n"), 10_000);

    // Paused, both sides edit the same file; resumed, both versions are kept and the row says so.
    await click(app, "[data-testid=sync-pause]");
    await waitForText(app, "[data-testid=sync-state]", "Paused");
    await new Promise((r) => setTimeout(r, 1500));
    writeFileSync(join(project, "notes.md"), "edited here\n");
    writeFileSync(join(folder, "notes.md"), "edited in the session\n");
    await click(app, "[data-testid=sync-resume]");
    await until("the conflict in the row", async () => (await state())?.includes("1 conflict"), 15_000);
    const copy = await textOf(app, "[data-testid=sync-conflicts] li");
    assert.match(copy, /^notes \(conflict .*\)\.md$/);
    assert.equal(readFileSync(join(project, copy), "utf8"), "edited here\n");
    assert.equal(readFileSync(join(project, "notes.md"), "utf8"), "edited in the session\n");
    await until("the copy in the folder too", () => holds(join(folder, copy), "edited here\n"), 10_000);
    await screenshot(app, "syncs-conflict");
  });
});
