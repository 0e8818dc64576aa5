// Uploads and downloads in the window, through the same Rust command a drop from the file
// manager and the native pickers use (the pickers themselves are GTK dialogs outside the
// webview, which WebDriver cannot drive).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, click, run, screenshot, textOf, until, waitForText, withApp } from "./harness.mjs";

const invoke = (app, command, args) =>
  run(app, "return window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1]);", command, args);
const rowNames = (app) =>
  run(app, "return [...document.querySelectorAll('[data-testid=explorer-rows] [role=row]')].map((r) => r.dataset.name);");

test("upload a file and a tree into a folder, see them listed, download the file back byte for byte", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-transfer-"));
  const dataDir = join(home, "data");
  execFileSync(CLI, ["--data-dir", dataDir, "folder", "create", "user2-vfolder"]);
  const file = join(home, "test_file");
  writeFileSync(file, "file inside user2-vfolder\n");
  mkdirSync(join(home, "results/empty"), { recursive: true });
  writeFileSync(join(home, "results/metrics.csv"), "epoch,loss\n1,0.5\n");

  await withApp("transfers", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    await click(app, "button[data-page=storage]");
    await click(app, "tr[data-folder=user2-vfolder] .folder-link");
    await waitForText(app, "[data-testid=explorer-count]", "0 items");

    const queued = await invoke(app, "upload_paths", { folder: "user2-vfolder", to: "", paths: [file, join(home, "results")], conflict: null });
    assert.deepEqual(queued, { queued: 2, conflicts: [] });
    await until("both uploads listed", async () => (await rowNames(app))?.join() === "results,test_file");
    await waitForText(app, "[data-testid=transfer-summary]", "All done");
    assert.equal(await run(app, "return document.querySelectorAll('[data-testid=transfer-panel] li[data-state=done]').length;"), 2);

    // The same upload again is not queued until a conflict policy is chosen.
    const again = await invoke(app, "upload_paths", { folder: "user2-vfolder", to: "", paths: [file], conflict: null });
    assert.deepEqual(again, { queued: 0, conflicts: ["test_file"] });

    const out = join(home, "downloaded");
    const down = await invoke(app, "download_paths", { folder: "user2-vfolder", paths: ["test_file", "results"], to: out, conflict: null });
    assert.equal(down.queued, 2);
    await until("the downloads", async () => (await textOf(app, "[data-testid=transfer-panel]"))?.match(/Done/g)?.length === 4);
    assert.equal(readFileSync(join(out, "test_file"), "utf8"), "file inside user2-vfolder\n");
    assert.equal(readFileSync(join(out, "results/metrics.csv"), "utf8"), "epoch,loss\n1,0.5\n");
    assert.deepEqual(readdirSync(join(out, "results")).sort(), ["empty", "metrics.csv"], "empty directories come back too");
    await screenshot(app, "explorer-with-transfers");
  });
});
