// The transfer controls as a user drives them: the Upload and Download buttons with the native
// GTK pickers answered at the keyboard (pick-file.py), the conflict dialog, and the panel's
// Pause / Resume / Cancel / Retry buttons; each result is checked on disk.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { CLI, click, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

/** The big upload: large enough to be still copying when Pause is clicked. */
const MIB = 1024 * 1024;
const SIZE = 2048 * MIB;

/** `SIZE` bytes whose every MiB differs, written quickly. */
function writeBig(path) {
  const block = randomBytes(1 << 20);
  const fd = openSync(path, "w");
  for (let i = 0; i < SIZE / MIB; i++) {
    block.writeUInt32LE(i, 0);
    writeSync(fd, block);
  }
  closeSync(fd);
}
const PICK_FILE = join(dirname(fileURLToPath(import.meta.url)), "pick-file.py");
const DROP_FILES = join(dirname(fileURLToPath(import.meta.url)), "drop-files.py");

/** Answers the native dialog titled `title` with `path`, typed as a user would. */
function answerPicker(app, title, path) {
  execFileSync("/usr/bin/python3", [PICK_FILE, title, path], { env: { ...process.env, DISPLAY: app.display }, timeout: 30_000 });
}

/** Clicks "Upload files" and picks `path` in the native dialog. */
async function uploadThroughPicker(app, path) {
  await click(app, "[data-testid=explorer-upload-files]");
  answerPicker(app, "Upload files", path);
}

const rowNames = (app) =>
  run(app, "return [...document.querySelectorAll('[data-testid=explorer-rows] [role=row]')].map((r) => r.dataset.name);");

/** The panel's rows, newest first, as `{name, state, buttons}`. */
const panelRows = (app) =>
  run(
    app,
    `return [...document.querySelectorAll('[data-testid=transfer-panel] li[data-transfer]')].map((li) => ({
       id: li.dataset.transfer,
       name: li.querySelector('.file').innerText,
       state: li.dataset.state,
       buttons: [...li.querySelectorAll('button')].map((b) => b.innerText),
     }));`,
  );

async function rowOf(app, name) {
  return until(`the panel's row for ${name}`, async () => (await panelRows(app)).find((r) => r.name === name));
}

async function waitForState(app, name, state, timeoutMs = 20_000) {
  return until(`${name} ${state} in the panel`, async () => {
    const row = (await panelRows(app)).find((r) => r.name === name);
    return row?.state === state ? row : null;
  }, timeoutMs);
}

/** Clicks the button labelled `label` in the panel row of transfer `name`. */
async function clickRowButton(app, name, label) {
  const row = await rowOf(app, name);
  const index = row.buttons.indexOf(label);
  assert.ok(index >= 0, `${name} offers ${label} (it offers ${row.buttons.join(", ") || "nothing"})`);
  await click(app, `[data-testid=transfer-panel] li[data-transfer='${row.id}'] .buttons button:nth-of-type(${index + 1})`);
}

const panelShown = (app) => run(app, "return document.querySelector('[data-testid=transfer-panel]') !== null;");
const resumeAllEnabled = (app) =>
  run(app, "const b = [...document.querySelectorAll('[data-testid=transfer-panel] .actions button')].find((b) => b.innerText === 'Resume all'); return b ? !b.disabled : null;");

function setup(prefix) {
  const home = mkdtempSync(join(tmpdir(), prefix));
  const dataDir = join(home, "data");
  execFileSync(CLI, ["--data-dir", dataDir, "folder", "create", "w"]);
  const root = JSON.parse(execFileSync(CLI, ["--data-dir", dataDir, "--json", "folder", "info", "w"], { encoding: "utf8" })).path;
  const local = join(home, "local");
  mkdirSync(local);
  return { home, dataDir, root, local };
}

async function openFolder(app) {
  await click(app, "button[data-page=storage]");
  await click(app, "tr[data-folder=w] .folder-link");
  await waitForText(app, "[data-testid=explorer-count]", "0 items");
}

test("upload and download with the native pickers, answer a conflict, and see the finished row as done", async () => {
  const { home, dataDir, root, local } = setup("berth-e2e-transfer-controls-");
  const file = join(local, "test_file.txt");
  writeFileSync(file, "file inside w\n");

  await withApp("transfer-controls", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    assert.equal(await panelShown(app), false, "no transfer panel before any transfer");
    await openFolder(app);

    await uploadThroughPicker(app, file);
    await until("the uploaded file listed", async () => (await rowNames(app))?.includes("test_file.txt"));
    assert.equal(readFileSync(join(root, "test_file.txt"), "utf8"), "file inside w\n");
    // The finished upload says so at once: no "1 active · 100%" with Pause and Cancel.
    await waitForText(app, "[data-testid=transfer-summary]", "All done", 5_000);
    const done = await waitForState(app, "test_file.txt", "done", 5_000);
    assert.deepEqual(done.buttons, [], "nothing to pause or cancel on a finished upload");
    assert.equal(await resumeAllEnabled(app), false, "nothing to resume");
    await screenshot(app, "transfer-controls-done");

    // The same file again: the dialog asks, about this one file; "Keep both" keeps both, and
    // the row names the file that was written.
    await uploadThroughPicker(app, file);
    await waitForText(app, "[data-testid=conflict]", "This item already exists");
    const note = await textOf(app, "[data-testid=conflict-note]");
    assert.doesNotMatch(note, /all of them/, "one file is not 'all of them'");
    await screenshot(app, "transfer-controls-conflict");
    await click(app, "[data-testid=conflict-keep-both]");
    await until("both copies listed", async () => (await rowNames(app))?.join() === "test_file (1).txt,test_file.txt");
    assert.equal(readFileSync(join(root, "test_file (1).txt"), "utf8"), "file inside w\n");
    assert.equal(readFileSync(join(root, "test_file.txt"), "utf8"), "file inside w\n", "the first copy untouched");
    await waitForState(app, "test_file (1).txt", "done");

    // Download the kept copy into a directory picked in the native folder dialog.
    const out = join(home, "downloads");
    mkdirSync(out);
    await click(app, "[data-testid=explorer-rows] [data-name='test_file (1).txt']");
    await click(app, "[data-testid=explorer-download]");
    answerPicker(app, "Download to", out);
    await until("the download on disk", () => existsSync(join(out, "test_file (1).txt")));
    assert.equal(readFileSync(join(out, "test_file (1).txt"), "utf8"), "file inside w\n");
    await waitForText(app, "[data-testid=transfer-summary]", "All done", 5_000);

    // Thirty more rows: the panel keeps to a quarter of the window and scrolls inside, so the
    // explorer keeps its room.
    const many = join(local, "many");
    mkdirSync(many);
    for (let i = 0; i < 30; i++) writeFileSync(join(many, `f${String(i).padStart(2, "0")}.txt`), `${i}\n`);
    await click(app, "[data-testid=explorer-upload-folder]");
    answerPicker(app, "Upload folders", many);
    await until("thirty uploads done", async () => (await panelRows(app)).filter((r) => r.state === "done").length === 33);
    assert.equal(readdirSync(join(root, "many")).length, 30);
    const room = await run(
      app,
      `const panel = document.querySelector('[data-testid=transfer-panel]');
       const list = panel.querySelector('ul');
       return { panel: panel.getBoundingClientRect().height, window: window.innerHeight, scrolls: list.scrollHeight > list.clientHeight };`,
    );
    assert.ok(room.panel <= room.window / 4 + 1, `the panel takes ${room.panel} of ${room.window} px`);
    assert.ok(room.scrolls, "the rows scroll inside the panel");
    await screenshot(app, "transfer-controls-many-rows");

    // Finished transfers take no room where they do not belong.
    await click(app, "button[data-page=settings]");
    await waitForText(app, "main h1", "Settings");
    assert.equal(await panelShown(app), false, "no transfer panel on Settings");
    await screenshot(app, "transfer-controls-settings");
    await click(app, "button[data-page=sessions]");
    assert.equal(await panelShown(app), false, "nothing moving: no panel on Sessions");
    await click(app, "button[data-page=storage]");
    await until("the panel back on Data & Storage", () => panelShown(app));
  });
});

test("pause, resume, cancel and retry from the panel's buttons", async (t) => {
  const { home, dataDir, root, local } = setup("berth-e2e-transfer-buttons-");
  // Three copies of a 2 GiB file: not left behind in /tmp.
  t.after(() => rmSync(home, { recursive: true, force: true }));
  // A tree whose big file is still copying when Pause is clicked, and a small one behind it.
  const tree = join(local, "batch");
  mkdirSync(tree);
  const big = join(tree, "big.bin");
  writeBig(big);
  const c = join(tree, "c.txt");
  writeFileSync(c, "c\n");

  await withApp("transfer-buttons", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    await openFolder(app);
    // One file at a time, so the small file waits behind the big one.
    await click(app, "[data-testid=explorer-upload-files]");
    const first = join(local, "first.txt");
    writeFileSync(first, "first\n");
    answerPicker(app, "Upload files", first);
    await waitForState(app, "first.txt", "done");
    await click(app, "[data-testid=transfer-concurrency] option[value='1']");
    await until("one at a time", async () => (await run(app, "return document.querySelector('[data-testid=transfer-concurrency]').value;")) === "1");

    await click(app, "[data-testid=explorer-upload-folder]");
    answerPicker(app, "Upload folders", tree);
    await waitForState(app, "c.txt", "queued");
    // c.txt is moved away before its turn: it will fail, saying which file and why.
    rmSync(c);
    // Pause the running upload once it has written something: its partial stays, no file takes
    // the final name.
    await until("big.bin's first bytes in the folder", () =>
      readdirSync(join(root, "batch")).some((n) => n.startsWith(".big.bin.berth-part-") && statSync(join(root, "batch", n)).size > 0),
    );
    await clickRowButton(app, "big.bin", "Pause");
    await waitForState(app, "big.bin", "paused");
    assert.ok(!existsSync(join(root, "batch/big.bin")), "no file under the final name while paused");
    const partial = readdirSync(join(root, "batch")).find((n) => n.startsWith(".big.bin.berth-part-"));
    assert.ok(partial, `a partial file while paused: ${readdirSync(join(root, "batch")).join(", ")}`);
    const kept = statSync(join(root, "batch", partial)).size;
    assert.ok(kept > 0 && kept < SIZE, `paused mid-way (${kept} bytes)`);
    assert.equal(await resumeAllEnabled(app), true, "a paused upload to resume");

    // The slot freed: c.txt runs and fails, with its reason in the row.
    await waitForState(app, "c.txt", "failed");
    const failure = await textOf(app, "[data-testid=transfer-panel] li[data-state=failed] .figures");
    assert.match(failure, /Cannot read .*c\.txt on this computer: it does not exist/);
    assert.doesNotMatch(failure, /os error/);
    await screenshot(app, "transfer-controls-paused-and-failed");

    // Retry after putting the file back: it is uploaded.
    writeFileSync(c, "c again\n");
    await clickRowButton(app, "c.txt", "Retry");
    await waitForState(app, "c.txt", "done");
    assert.equal(readFileSync(join(root, "batch/c.txt"), "utf8"), "c again\n");

    // Resume continues the big upload to an identical file.
    await clickRowButton(app, "big.bin", "Resume");
    await waitForState(app, "big.bin", "done", 120_000);
    execFileSync("cmp", [join(root, "batch/big.bin"), big]); // throws when they differ
    assert.deepEqual(readdirSync(join(root, "batch")).filter((n) => n.includes("berth-part")), [], "no partial left");
    assert.equal(await resumeAllEnabled(app), false, "all done: nothing to resume");
    rmSync(join(root, "batch/big.bin")); // 2 GiB less on the disk for the rest

    // Cancel a running upload: nothing is left in the folder; Retry uploads it after all.
    await uploadThroughPicker(app, big);
    await waitForState(app, "big.bin", "running");
    await clickRowButton(app, "big.bin", "Cancel");
    await waitForState(app, "big.bin", "cancelled");
    await until("no partial after the cancel", () => readdirSync(root).every((n) => !n.includes("big.bin")));
    await clickRowButton(app, "big.bin", "Retry");
    await waitForState(app, "big.bin", "done", 120_000);
    execFileSync("cmp", [join(root, "big.bin"), big]);
  });
});

test("files and a tree dropped from the file manager are uploaded into the open directory", async () => {
  const { dataDir, root, local } = setup("berth-e2e-transfer-drop-");
  writeFileSync(join(local, "dropped file.txt"), "dropped\n");
  mkdirSync(join(local, "tree/empty"), { recursive: true });
  writeFileSync(join(local, "tree/inner.csv"), "a,b\n");
  mkdirSync(join(root, "inbox"));

  await withApp("transfer-drop", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    await click(app, "button[data-page=storage]");
    await click(app, "tr[data-folder=w] .folder-link");
    await waitForText(app, "[data-testid=explorer-count]", "1 item");
    await click(app, "[data-testid=explorer-rows] [data-name=inbox]");
    await typeInto(app, "[data-testid=explorer-rows]", "\uE007"); // Enter opens it
    await waitForText(app, "[data-testid=explorer-count]", "0 items");

    execFileSync("/usr/bin/python3", [DROP_FILES, "Berth", join(local, "dropped file.txt"), join(local, "tree")], {
      env: { ...process.env, DISPLAY: app.display },
      timeout: 30_000,
    });
    await until("the dropped files listed", async () => (await rowNames(app))?.join() === "tree,dropped file.txt");
    await waitForText(app, "[data-testid=transfer-summary]", "All done");
    assert.equal(readFileSync(join(root, "inbox/dropped file.txt"), "utf8"), "dropped\n");
    assert.equal(readFileSync(join(root, "inbox/tree/inner.csv"), "utf8"), "a,b\n");
    assert.ok(statSync(join(root, "inbox/tree/empty")).isDirectory(), "empty directories come too");
    await screenshot(app, "transfer-controls-dropped");
  });
});
