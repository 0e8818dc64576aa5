// An open explorer follows changes made underneath it (by a session, or any other program),
// without losing the selection or the scroll position.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, click, run, until, waitForText, withApp } from "./harness.mjs";

const rowNames = (app) =>
  run(app, "return [...document.querySelectorAll('[data-testid=explorer-rows] [role=row]')].map((r) => r.dataset.name);");

test("the explorer refreshes by itself when files change on disk, keeping selection and scroll", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-watch-"));
  const dataDir = join(home, "data");
  execFileSync(CLI, ["--data-dir", dataDir, "folder", "create", "w"]);
  const root = JSON.parse(execFileSync(CLI, ["--data-dir", dataDir, "--json", "folder", "info", "w"], { encoding: "utf8" })).path;
  for (let i = 0; i < 300; i++) writeFileSync(join(root, `f${String(i).padStart(3, "0")}.txt`), "x");

  await withApp("watch", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    await click(app, "button[data-page=storage]");
    await click(app, "tr[data-folder=w] .folder-link");
    await waitForText(app, "[data-testid=explorer-count]", "300 items");
    await run(app, "document.querySelector('[data-testid=explorer-rows]').scrollTop = 3000;");
    await until("rows around f100 rendered", async () => (await rowNames(app)).includes("f100.txt"));
    await click(app, "[data-name='f100.txt']");

    writeFileSync(join(root, "made-by-a-session.txt"), "hello");
    writeFileSync(join(root, "another.txt"), "hello");
    rmSync(join(root, "f299.txt"));
    // No Refresh pressed: the count follows the disk, and the selection survives.
    await waitForText(app, "[data-testid=explorer-count]", "301 items · 1 selected");
    assert.equal(await run(app, "return document.querySelector('[data-testid=explorer-rows]').scrollTop;"), 3000, "scroll kept");
    assert.ok(await run(app, "return !!document.querySelector('[data-name=\"f100.txt\"][aria-selected=true]');"), "selection kept");
    // The listing really changed: the deleted file is gone, the new one is there.
    await run(app, "const r = document.querySelector('[data-testid=explorer-rows]'); r.scrollTop = r.scrollHeight;");
    await until("the end of the list", async () => (await rowNames(app)).includes("made-by-a-session.txt"));
    assert.ok(!(await rowNames(app)).includes("f299.txt"));
  });
});
