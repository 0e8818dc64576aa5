// The explorer from the keyboard in a folder larger than the screen: Home, End, Page Up/Down and
// the arrows move the selection (Shift extends it), the list scrolls to follow it, the keys keep
// working after the list scrolled, and one cursor is outlined. Rename preselects the name
// without its extension.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, click, pressKeys, run, screenshot, typeInto, until, waitForText, withApp } from "./harness.mjs";

const KEY = { enter: "\uE007", shift: "\uE008", pageUp: "\uE00E", pageDown: "\uE00F", end: "\uE010", home: "\uE011", up: "\uE013", down: "\uE015", f2: "\uE032" };

/** What the user sees: the selected names on screen, whether each is inside the list's visible box, and the outlined row. */
const view = (app) =>
  run(
    app,
    `const list = document.querySelector('[data-testid=explorer-rows]');
     const box = list.getBoundingClientRect();
     const rows = [...list.querySelectorAll('[role=row]')];
     const inView = (r) => { const b = r.getBoundingClientRect(); return b.top >= box.top - 0.5 && b.bottom <= box.bottom + 0.5; };
     return {
       selected: rows.filter((r) => r.getAttribute('aria-selected') === 'true').map((r) => r.dataset.name),
       selectedInView: rows.filter((r) => r.getAttribute('aria-selected') === 'true' && inView(r)).map((r) => r.dataset.name),
       outlined: rows.filter((r) => getComputedStyle(r).boxShadow !== 'none' || getComputedStyle(r).outlineStyle !== 'none').map((r) => r.dataset.name),
       listHasFocus: document.activeElement === list,
       count: document.querySelector('[data-testid=explorer-count]').innerText,
     };`,
  );

test("explorer keyboard: Home, End, Page Down and arrows move the selection in a large folder and the list follows", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-explorer-keys-"));
  const dataDir = join(home, "data");
  const berth = (...args) => execFileSync(CLI, ["--data-dir", dataDir, ...args], { encoding: "utf8" });
  berth("folder", "create", "big");
  const root = JSON.parse(berth("--json", "folder", "info", "big")).path;
  for (let i = 0; i < 500; i++) writeFileSync(join(root, `f${String(i).padStart(3, "0")}.txt`), "x");
  writeFileSync(join(root, "report.final.csv"), "a,b\n");

  await withApp("explorer-keyboard", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    await click(app, "button[data-page=storage]");
    await click(app, "tr[data-folder=big] .folder-link");
    await waitForText(app, "[data-testid=explorer-count]", "501 items");

    // A click on the first row: it is selected, the list (not the row) has the keys.
    await click(app, "[data-testid=explorer-rows] [data-name='f000.txt']");
    let seen = await view(app);
    assert.deepEqual(seen.selected, ["f000.txt"]);
    assert.equal(seen.listHasFocus, true, "the list keeps the keyboard after a click");

    // End: the last row is selected and scrolled to; the keys still work from there.
    await pressKeys(app, [KEY.end]);
    seen = await until("End selecting the last row", async () => {
      const now = await view(app);
      return now.selectedInView.join() === "report.final.csv" ? now : null;
    }, 5_000);
    assert.deepEqual(seen.selected, ["report.final.csv"], "End moves the selection, not only the scroll");
    assert.deepEqual(seen.outlined, ["report.final.csv"], "one outlined row, the selected one");
    await screenshot(app, "explorer-keyboard-end");
    await pressKeys(app, [KEY.up]);
    await until("Up after End", async () => (await view(app)).selectedInView.join() === "f499.txt", 5_000);

    // Home: back to the first row.
    await pressKeys(app, [KEY.home]);
    await until("Home selecting the first row", async () => (await view(app)).selectedInView.join() === "f000.txt", 5_000);
    await pressKeys(app, [KEY.down]);
    await until("Down after Home", async () => (await view(app)).selectedInView.join() === "f001.txt", 5_000);

    // Page Down: a page further, still one selected row, on screen.
    await pressKeys(app, [KEY.pageDown]);
    seen = await until("Page Down moving the selection", async () => {
      const now = await view(app);
      return now.selected.length === 1 && now.selected[0] > "f005.txt" && now.selectedInView.length === 1 ? now : null;
    }, 5_000);
    const afterPage = seen.selected[0];
    assert.deepEqual(seen.outlined, [afterPage]);

    // Scrolled away with the wheel: Down goes on from the selected row, and the list comes back to it.
    await run(app, "const r = document.querySelector('[data-testid=explorer-rows]'); r.scrollTop = r.scrollHeight; r.dispatchEvent(new Event('scroll'));");
    await until("the selected row scrolled out", async () => (await view(app)).selectedInView.length === 0, 5_000);
    await pressKeys(app, [KEY.down]);
    const expected = `f${String(Number(afterPage.slice(1, 4)) + 1).padStart(3, "0")}.txt`;
    await until("Down from the selected row, scrolled back to it", async () => (await view(app)).selectedInView.join() === expected, 5_000);

    // Shift+Page Up and Shift+Home extend from where the selection started.
    await pressKeys(app, [KEY.shift, KEY.home]);
    seen = await until("Shift+Home extending", async () => {
      const now = await view(app);
      return now.count.includes(`${Number(expected.slice(1, 4)) + 1} selected`) ? now : null;
    }, 5_000);
    assert.ok(seen.selectedInView.includes("f000.txt"));
    await screenshot(app, "explorer-keyboard-shift-home");
  });
});

test("explorer rename: the dialog preselects the name without its extension", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-explorer-rename-"));
  const dataDir = join(home, "data");
  const berth = (...args) => execFileSync(CLI, ["--data-dir", dataDir, ...args], { encoding: "utf8" });
  berth("folder", "create", "docs");
  const root = JSON.parse(berth("--json", "folder", "info", "docs")).path;
  writeFileSync(join(root, "report.final.csv"), "a,b\n");

  await withApp("explorer-rename", { env: { BERTH_DATA_DIR: dataDir } }, async (app) => {
    await click(app, "button[data-page=storage]");
    await click(app, "tr[data-folder=docs] .folder-link");
    await waitForText(app, "[data-testid=explorer-count]", "1 item");
    await click(app, "[data-testid=explorer-rows] [data-name='report.final.csv']");
    await pressKeys(app, [KEY.f2]);
    await waitForText(app, "[data-testid=explorer-rename-dialog]", "Rename");
    const selection = () =>
      run(app, "const i = document.querySelector('[data-testid=explorer-rename-dialog] input[name=value]'); return document.activeElement === i ? [i.selectionStart, i.selectionEnd] : null;");
    await until("the stem preselected", async () => JSON.stringify(await selection()) === JSON.stringify([0, "report.final".length]), 5_000);
    await screenshot(app, "explorer-rename-preselected");
    // Typing replaces the name and keeps the extension.
    await pressKeys(app, [..."summary", KEY.enter]);
    await waitForText(app, "[data-testid=explorer-rows] [data-name='summary.csv']", "summary.csv");
    assert.equal(existsSync(join(root, "summary.csv")), true);
  });
});
