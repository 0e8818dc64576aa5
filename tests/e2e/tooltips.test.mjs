// Tooltips (every `title` in the window): one shows when the pointer rests on an element, and it
// goes when the element is clicked and the page changes under the still pointer, instead of
// staying on screen over the next page's content.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cli, click, hover, run, screenshot, until, waitForText, withApp } from "./harness.mjs";

const tooltips = (app) =>
  run(app, "return [...document.querySelectorAll('[role=tooltip]')].filter((t) => t.getClientRects().length > 0).map((t) => t.textContent);");

/** The toolkit's own tooltip windows shown on the app's X display (GTK maps one per visible tooltip). */
function nativeTooltips(app) {
  const x = (command, ...args) => execFileSync(command, args, { env: { ...process.env, DISPLAY: app.display }, encoding: "utf8", timeout: 5_000 });
  const ids = [...x("xwininfo", "-root", "-children").matchAll(/^\s+(0x[0-9a-f]+)/gm)].map((m) => m[1]);
  return ids.filter((id) => {
    try {
      return /IsViewable/.test(x("xwininfo", "-id", id)) && /_NET_WM_WINDOW_TYPE_TOOLTIP/.test(x("xprop", "-id", id, "_NET_WM_WINDOW_TYPE"));
    } catch {
      return false; // gone meanwhile
    }
  });
}

test("tooltips: shown on hover, gone after a click that changes the page", async () => {
  await withApp("tooltips", {}, async (app) => {
    cli(app, "folder", "create", "user2-vfolder");
    await waitForText(app, "[data-testid=start-session]", "Start");

    // "Start a session" on the Sessions page's Start: shown, then gone once the launcher opened.
    await hover(app, "[data-testid=start-session]");
    await until("the Start tooltip", async () => (await tooltips(app)).join() === "Start a session", 5_000);
    await screenshot(app, "tooltip-start");
    await click(app, "[data-testid=start-session]");
    await until("the launcher", () => run(app, "return !!document.querySelector('[data-testid=launcher]');"));
    await until("no tooltip over the launcher", async () => (await tooltips(app)).length === 0, 5_000);
    assert.deepEqual(nativeTooltips(app), [], "no toolkit tooltip left over the launcher");
    await click(app, "[data-testid=launcher-cancel]");

    // "Open in the explorer" on a folder's name: gone once its explorer is on screen.
    await click(app, "button[data-page=storage]");
    await hover(app, "tr[data-folder=user2-vfolder] .folder-link");
    await until("the folder link's tooltip", async () => (await tooltips(app)).join() === "Open in the explorer", 5_000);
    await click(app, "tr[data-folder=user2-vfolder] .folder-link");
    await waitForText(app, "[data-testid=explorer-count]", "0 items");
    await until("no tooltip over the explorer", async () => (await tooltips(app)).length === 0, 5_000);
    assert.deepEqual(nativeTooltips(app), [], "no toolkit tooltip left over the explorer");
    await screenshot(app, "tooltip-gone-explorer");

    // Leaving an element gives it its title back (for assistive technology and the next hover).
    await hover(app, "[data-testid=explorer-count]");
    await click(app, "button[data-page=sessions]");
    assert.equal(await run(app, "return document.querySelector('[data-testid=start-session]').getAttribute('title');"), "Start a session");
  });
});
