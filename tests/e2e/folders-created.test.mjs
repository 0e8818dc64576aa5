// A folder made in the create dialog among twenty others (listed oldest first, so it lands at
// the bottom): the list scrolls to it, highlights it and puts the focus on its name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli, click, run, screenshot, typeInto, until, waitForText, withApp } from "./harness.mjs";

test("folders: a new folder is scrolled to, highlighted and focused in a long list", async () => {
  await withApp("folders-created", {}, async (app) => {
    for (let i = 1; i <= 20; i++) cli(app, "folder", "create", `project-${String(i).padStart(2, "0")}`);
    await click(app, "button[data-page=storage]");
    await waitForText(app, "tr[data-folder=project-20]", "project-20");
    await click(app, "[data-testid=new-folder]");
    await typeInto(app, "[data-testid=create-folder] input[name=name]", "results-2026");
    await click(app, "[data-testid=create-folder] button[type=submit]");
    await waitForText(app, "tr[data-folder=results-2026]", "results-2026");

    const seen = await until("the new folder in view", async () => {
      const now = await run(
        app,
        `const row = document.querySelector('tr[data-folder=results-2026]');
         const view = row.closest('main').getBoundingClientRect();
         const box = row.getBoundingClientRect();
         const other = document.querySelector('tr[data-folder=project-19] td');
         return {
           inView: box.top >= view.top && box.bottom <= view.bottom,
           highlighted: getComputedStyle(row.querySelector('td')).backgroundColor !== getComputedStyle(other).backgroundColor,
           focused: document.activeElement === row.querySelector('.folder-link'),
         };`,
      );
      return now.inView ? now : null;
    }, 5_000);
    assert.equal(seen.highlighted, true, "the new folder's row stands out");
    assert.equal(seen.focused, true, "the focus is on the new folder's name");
    await screenshot(app, "folders-created-highlighted");
  });
});
