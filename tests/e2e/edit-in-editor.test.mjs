// "Open in my editor": the preview copies the file to this computer and starts the user's
// editor on it (here a scripted one, through BERTH_EDITOR); each save is written back to the
// folder and shown in the transfer panel. A file changed in the folder meanwhile is not
// overwritten: the panel offers Overwrite, Reload, Save as a copy; quitting names the open
// file; Stop deletes the copy here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, click, pressKeys, run, screenshot, textOf, until, waitForText, withApp } from "./harness.mjs";

const copyRow = (app) =>
  run(
    app,
    `const row = document.querySelector('[data-testid=edit-copy]');
     const status = row?.querySelector('[data-testid=edit-copy-status]');
     return row ? { state: row.dataset.state, path: row.dataset.editCopy, status: status.textContent, why: status.title,
       local: row.querySelector('.file').title.split(' ⇄ ')[1] } : null;`,
  );

test("open in my editor: saves reach the folder; a change made meanwhile waits for the user", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-editor-"));
  const dataDir = join(home, "data");
  const berth = (...args) => execFileSync(CLI, ["--data-dir", dataDir, ...args], { encoding: "utf8" });
  berth("folder", "create", "code");
  const root = JSON.parse(berth("--json", "folder", "info", "code")).path;
  const inFolder = join(root, "train.py");
  writeFileSync(inFolder, "lr = 0.1\n");
  // The scripted editor: opens the file it is given, and saves an edit a moment later the
  // way many editors do (a new file renamed over it). It also notes which file it was given.
  const editor = join(home, "editor.sh");
  writeFileSync(editor, `#!/bin/sh\necho "$1" > "${home}/editor-was-given"\nsleep 0.3\nprintf 'lr = 0.1\\nepochs = 3\\n' > "$1.new" && mv "$1.new" "$1"\n`);
  chmodSync(editor, 0o755);

  await withApp("edit-in-editor", { env: { BERTH_DATA_DIR: dataDir, BERTH_EDITOR: editor } }, async (app) => {
    await click(app, "button[data-page=storage]");
    await click(app, "tr[data-folder=code] .folder-link");
    await waitForText(app, "[data-testid=explorer-count]", "1 item");
    await click(app, "[data-testid=explorer-rows] [data-name='train.py']");
    await pressKeys(app, [" "]);
    await click(app, "[data-testid=preview-open-editor]");
    await waitForText(app, "[data-testid=preview-note]", "Opened in your editor");

    // The editor's save is in the folder, and the panel says so.
    await until("the editor's save in the folder", () => readFileSync(inFolder, "utf8") === "lr = 0.1\nepochs = 3\n", 10_000);
    const saved = await until("the panel's row saying it is saved", async () => {
      const row = await copyRow(app);
      return row?.status.startsWith("Saved to the folder at") ? row : null;
    }, 10_000);
    assert.equal(saved.path, "train.py");
    assert.equal(readFileSync(join(home, "editor-was-given"), "utf8").trim(), saved.local, "the editor got the copy");
    assert.ok(!saved.local.startsWith(root), "the copy is not in the folder");
    await pressKeys(app, ["\uE00C"]);

    // A session changes the file; then the user saves again in the editor: nothing is lost.
    writeFileSync(inFolder, "lr = 0.5  # from a session\n");
    writeFileSync(saved.local, "lr = 0.1\nepochs = 5\n");
    const conflict = await until("the conflict in the panel", async () => {
      const row = await copyRow(app);
      return row?.state === "conflict" ? row : null;
    }, 10_000);
    assert.equal(conflict.status, "Changed in the folder meanwhile: your save is not in it");
    assert.match(conflict.why, /"train\.py" in folder "code" changed .* since you opened it/);
    assert.equal(readFileSync(inFolder, "utf8"), "lr = 0.5  # from a session\n");
    await screenshot(app, "edit-in-editor-conflict");

    // Quitting now names the file and that its latest save is not in the folder.
    await run(app, "window.__TAURI_INTERNALS__.invoke('request_quit'); return true;");
    await waitForText(app, "[data-testid=quit-edit-copies]", "1 file is open in your editor");
    assert.match(await textOf(app, "[data-testid=quit-edit-copies]"), /1 latest save is not in the folder yet/);
    await click(app, "[data-testid=cancel-button]");

    // Save as a copy: beside the file; the session's version stays.
    await click(app, "[data-testid=edit-copy-save-copy]");
    await until("the copy beside the file", () => existsSync(join(root, "train (1).py")), 10_000);
    assert.equal(readFileSync(join(root, "train (1).py"), "utf8"), "lr = 0.1\nepochs = 5\n");
    assert.equal(readFileSync(inFolder, "utf8"), "lr = 0.5  # from a session\n");
    await until("the row following the copy", async () => (await copyRow(app))?.path === "train (1).py", 10_000);

    // Stop: the copy here is deleted and the row goes.
    await click(app, "[data-testid=edit-copy-stop]");
    await until("the row gone", async () => (await copyRow(app)) === null, 10_000);
    assert.ok(!existsSync(saved.local), "the copy on this computer is deleted");
  });
});
