// Uploads and downloads in the window, through the same Rust command a drop from the file
// manager and the native pickers use (the pickers themselves are GTK dialogs outside the
// webview, which WebDriver cannot drive).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, click, invoke, notifications, run, screenshot, textOf, until, waitForText, withApp } from "./harness.mjs";

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
    // The batch's end reaches the desktop's notification daemon, sent from Rust.
    await until("the upload notification", () =>
      notifications(app).some((n) => n.summary === "Upload finished" && n.body === "2 files uploaded to user2-vfolder."),
    );
    assert.equal(await run(app, "return document.querySelectorAll('[data-testid=reveal-transfer]').length;"), 0, "uploads have nothing to reveal");

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
    await until("the download notification", () =>
      notifications(app).some((n) => n.summary === "Download finished" && n.body.endsWith(`downloaded to ${out}.`)),
    );
    // Finished downloads offer "Show in folder" (the lookup by job id is tested in Rust; the
    // file manager itself is outside the window).
    await until("reveal buttons on the finished downloads", async () =>
      (await run(app, "return document.querySelectorAll('li[data-state=done] [data-testid=reveal-transfer]').length;")) >= 1,
    );
    await screenshot(app, "explorer-with-transfers");
  });
});

test("the transfers-at-once setting is saved in the config directory and read at the next start", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-settings-"));
  const dataDir = join(home, "data");
  const configDir = join(home, "config");
  execFileSync(CLI, ["--data-dir", dataDir, "folder", "create", "w"]);
  const file = join(home, "a.txt");
  writeFileSync(file, "a\n");
  const env = { BERTH_DATA_DIR: dataDir, BERTH_CONFIG_DIR: configDir };
  const settingsFile = join(configDir, "settings.json");

  await withApp("transfer-settings", { env }, async (app) => {
    await click(app, "button[data-page=storage]");
    await invoke(app, "upload_paths", { folder: "w", to: "", paths: [file], conflict: null });
    await waitForText(app, "[data-testid=transfer-summary]", "All done");
    assert.equal(await run(app, "return document.querySelector('[data-testid=transfer-concurrency]').value;"), "3", "the default");
    await run(app, "const s = document.querySelector('[data-testid=transfer-concurrency]'); s.value = '6'; s.dispatchEvent(new Event('change', { bubbles: true }));");
    await until("the settings file", () => existsSync(settingsFile) && JSON.parse(readFileSync(settingsFile, "utf8")).transfer_concurrency === 6);
    await screenshot(app, "transfer-panel-settings");
  });
  await withApp("transfer-settings-reopened", { env }, async (app) => {
    // Finished transfers are listed where transfers are made (Data & Storage).
    await click(app, "button[data-page=storage]");
    await waitForText(app, "[data-testid=transfer-panel]", "a.txt");
    await until("the saved setting", async () => (await run(app, "return document.querySelector('[data-testid=transfer-concurrency]')?.value;")) === "6");
    const refused = await run(app, "return window.__TAURI_INTERNALS__.invoke('set_transfer_concurrency', { limit: 9 }).then(() => null, (e) => e);");
    assert.equal(refused.code, "invalid_input");
    assert.match(refused.message, /between 1 and 8/);
  });
});
