// Fixing a file in a folder without the download–edit–upload round trip: E in the preview edits
// it, Ctrl+S saves it through the engine, and a file someone else changed meanwhile is never
// overwritten unasked — the user chooses to save a copy, overwrite, or reload. A Windows file
// keeps its \r\n; leaving with unsaved text asks first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, click, pressKeys, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const KEY = { escape: "\uE00C", space: " ", ctrl: "\uE009", end: "\uE010" };

const editorText = (app) => run(app, "return document.querySelector('[data-testid=editor-text]')?.value ?? null;");

async function editorSays(app, pattern) {
  return until(`the editor to say ${pattern}`, async () => {
    const said = await textOf(app, "[data-testid=editor-state]").catch(() => "");
    return pattern.test(said) ? said : null;
  }, 10_000);
}

/** Opens `name`'s preview with Space, then its editor with E; the text it holds. */
async function edit(app, name) {
  await click(app, `[data-testid=explorer-rows] [data-name='${name}']`);
  await pressKeys(app, [KEY.space]);
  await until(`${name}'s preview`, () => run(app, "return document.querySelector('[data-testid=preview-edit]') !== null;"), 10_000);
  await pressKeys(app, ["e"]);
  return until(`${name}'s editor`, () => editorText(app), 10_000);
}

/** Types `text` at the end of the editor's text, as a user would. */
async function typeAtEnd(app, text) {
  await click(app, "[data-testid=editor-text]");
  await pressKeys(app, [KEY.ctrl, KEY.end]);
  // A line break is the Enter key (WebDriver types "\n" as nothing).
  await typeInto(app, "[data-testid=editor-text]", text.replaceAll("\n", "\uE007"));
}

async function save(app) {
  await pressKeys(app, [KEY.ctrl, "s"]);
}

test("quick edit: save over the version read; a change made meanwhile is the user's choice", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-edit-"));
  const dataDir = join(home, "data");
  const berth = (...args) => execFileSync(CLI, ["--data-dir", dataDir, ...args], { encoding: "utf8" });
  berth("folder", "create", "fix");
  const root = JSON.parse(berth("--json", "folder", "info", "fix")).path;
  const config = join(root, "config.yaml");
  writeFileSync(config, "lr: 0.1\nepochs: 10\n");
  writeFileSync(join(root, "settings.ini"), "[run]\r\nseed=1\r\n");

  await withApp("edit", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    await click(app, "button[data-page=storage]");
    await click(app, "tr[data-folder=fix] .folder-link");
    await waitForText(app, "[data-testid=explorer-count]", "2 items");

    assert.equal(await edit(app, "config.yaml"), "lr: 0.1\nepochs: 10\n");
    await editorSays(app, /^No changes/);
    await typeAtEnd(app, "seed: 7");
    await editorSays(app, /^Edited, not saved/);
    await save(app);
    await editorSays(app, /^Saved config\.yaml($| ·)/);
    assert.equal(readFileSync(config, "utf8"), "lr: 0.1\nepochs: 10\nseed: 7");

    // Someone else saves the file while it is open here: nothing is overwritten unasked.
    writeFileSync(config, "lr: 0.5\n");
    await typeAtEnd(app, "\nbatch: 32");
    await save(app);
    const conflict = await until("the conflict", () => textOf(app, "[data-testid=editor-conflict]").catch(() => null), 10_000);
    assert.match(conflict, /"config\.yaml" in folder "fix" changed \(now 8 bytes\) since you opened it; nothing was saved/);
    assert.equal(readFileSync(config, "utf8"), "lr: 0.5\n");
    await screenshot(app, "edit-conflict");
    // Saved as a copy beside it: theirs stays, mine is kept, and the editor goes on with the copy.
    await click(app, "[data-testid=conflict-copy]");
    await editorSays(app, /^Saved as config \(1\)\.yaml; config\.yaml is as the other change left it/);
    assert.equal(readFileSync(join(root, "config (1).yaml"), "utf8"), "lr: 0.1\nepochs: 10\nseed: 7\nbatch: 32");
    assert.equal(readFileSync(config, "utf8"), "lr: 0.5\n");
    await click(app, "[data-testid=preview-close]");
    await until("the preview closed", () => run(app, "return document.querySelector('[data-testid=file-preview]') === null;"), 5_000);

    // Overwrite: the user's text wins, on the user's word.
    assert.equal(await edit(app, "config.yaml"), "lr: 0.5\n");
    writeFileSync(config, "lr: 0.9\nwarmup: 100\n");
    await typeAtEnd(app, "mine: yes\n");
    await save(app);
    await until("the conflict", () => textOf(app, "[data-testid=editor-conflict]").catch(() => null), 10_000);
    await click(app, "[data-testid=conflict-overwrite]");
    await editorSays(app, /^Saved config\.yaml over the other change/);
    assert.equal(readFileSync(config, "utf8"), "lr: 0.5\nmine: yes\n");

    // Reload: the other change is taken and the edit dropped.
    writeFileSync(config, "theirs: 1\n");
    await typeAtEnd(app, "dropped: 1\n");
    await save(app);
    await until("the conflict", () => textOf(app, "[data-testid=editor-conflict]").catch(() => null), 10_000);
    await click(app, "[data-testid=conflict-reload]");
    await until("the file as it is now", async () => (await editorText(app)) === "theirs: 1\n", 10_000);
    assert.equal(readFileSync(config, "utf8"), "theirs: 1\n");

    // Leaving with unsaved text asks; keeping on editing keeps the text.
    await typeAtEnd(app, "unsaved: 1\n");
    await pressKeys(app, [KEY.escape]);
    await until("the discard question", () => textOf(app, "[data-testid=editor-discard]").catch(() => null), 5_000);
    await click(app, "[data-testid=discard-cancel]");
    assert.equal(await editorText(app), "theirs: 1\nunsaved: 1\n");
    await click(app, "[data-testid=editor-done]");
    await until("the discard question", () => textOf(app, "[data-testid=editor-discard]").catch(() => null), 5_000);
    await click(app, "[data-testid=discard-confirm]");
    // Back in the preview, which reads the file as it now is.
    assert.equal(await until("the preview again", () => textOf(app, "[data-testid=preview-text]").catch(() => null), 10_000), "theirs: 1\n");
    assert.equal(readFileSync(config, "utf8"), "theirs: 1\n");
    await pressKeys(app, [KEY.escape]);
    await until("the preview closed", () => run(app, "return document.querySelector('[data-testid=file-preview]') === null;"), 5_000);

    // A Windows file keeps its line endings.
    assert.equal(await edit(app, "settings.ini"), "[run]\nseed=1\n");
    await editorSays(app, /Windows line endings \(kept\)/);
    await typeAtEnd(app, "steps=5\n");
    await save(app);
    await editorSays(app, /^Saved settings\.ini · Windows line endings/);
    assert.equal(readFileSync(join(root, "settings.ini"), "utf8"), "[run]\r\nseed=1\r\nsteps=5\r\n");
    await screenshot(app, "edit-saved");
    assert.ok(!existsSync(join(root, "settings (1).ini")));
  });
});
