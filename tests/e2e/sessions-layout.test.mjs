// The Sessions page at the window size every e2e test uses (1200×760): the detail drawer keeps
// clear of the Start button, and the Finished table fits, one line per cell, with long names
// and several mounts, with and without the drawer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli, click, run, screenshot, until, waitForText, withApp } from "./harness.mjs";

const LONG = "user1-long-experiment-name-for-the-finished-table";

/**
 * Where the table's cells break the layout: cells whose right edge is past what the user can
 * see (the page's right edge, or the drawer's left one), and cells whose text takes more than one
 * line (counted by the distinct tops of the text's line boxes).
 */
const tableProblems = (app) =>
  run(
    app,
    `const table = document.querySelector('[data-testid=sessions-table]');
     const drawer = document.querySelector('[data-testid=session-drawer]');
     const content = table.closest('main').getBoundingClientRect();
     const edge = Math.min(content.right, drawer ? drawer.getBoundingClientRect().left : Infinity);
     const problems = [];
     for (const cell of table.querySelectorAll('th, td')) {
       if (getComputedStyle(cell).display === 'none') continue;
       const box = cell.getBoundingClientRect();
       const label = (cell.innerText || '').trim().replace(/\\s+/g, ' ');
       if (box.right > edge + 0.5) problems.push('past the edge: ' + label);
       for (const part of cell.querySelectorAll('button, span')) {
         const range = document.createRange();
         range.selectNodeContents(part);
         const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
         if (tops.size > 1) problems.push('wraps: ' + part.innerText.trim());
       }
       if (!cell.querySelector('button, span') && cell.tagName === 'TD') {
         const range = document.createRange();
         range.selectNodeContents(cell);
         const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
         if (tops.size > 1) problems.push('wraps: ' + label);
       }
     }
     return problems;`,
  );

test("sessions page: the drawer keeps clear of Start; the Finished table fits 1200×760 on one line per cell", async () => {
  await withApp("sessions-layout", {}, async (app) => {
    cli(app, "folder", "create", "user1-ml-test-dataset-2026");
    cli(app, "folder", "create", "user2-vfolder-experiments");
    const mounts = ["--mount", "user1-ml-test-dataset-2026", "--mount", "user2-vfolder-experiments"];
    for (const name of [LONG, "short"]) {
      const { id } = JSON.parse(cli(app, "--json", "session", "create", "--name", name, "--network", "none", ...mounts));
      cli(app, "session", "destroy", id);
    }
    const running = JSON.parse(cli(app, "--json", "session", "create", "--name", "still-running", "--network", "none", ...mounts));
    try {
      await click(app, "[data-testid=refresh]").catch(() => {});
      await until("the running session listed", () => run(app, "return !!document.querySelector('tr[data-session=still-running]');"));

      // The drawer open: Start is still the element under its own middle, and it opens the launcher.
      await click(app, "tr[data-session=still-running] [data-testid=session-link]");
      await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Running");
      const covered = await run(
        app,
        `const start = document.querySelector('[data-testid=start-session]').getBoundingClientRect();
         const hit = document.elementFromPoint(start.left + start.width / 2, start.top + start.height / 2);
         return hit && hit.closest('[data-testid=start-session]') ? null : (hit ? hit.outerHTML.slice(0, 80) : 'nothing');`,
      );
      assert.equal(covered, null, "the Start button is under the drawer");
      assert.deepEqual(await tableProblems(app), []);
      await screenshot(app, "sessions-layout-drawer");

      // Finished, drawer open and closed: nothing cut off at the right, nothing wrapped.
      await click(app, "[data-testid=filter-finished]");
      await until("the finished sessions", () => run(app, `return document.querySelectorAll('[data-testid=sessions-table] tbody tr').length === 2;`));
      assert.deepEqual(await tableProblems(app), []);
      await screenshot(app, "sessions-layout-finished-drawer");
      await click(app, "[data-testid=session-drawer] .close");
      await until("the drawer closed", () => run(app, "return !document.querySelector('[data-testid=session-drawer]');"));
      assert.deepEqual(await tableProblems(app), []);
      await screenshot(app, "sessions-layout-finished");

      await click(app, "[data-testid=filter-running]");
      await click(app, "tr[data-session=still-running] [data-testid=session-link]");
      await waitForText(app, "[data-testid=session-drawer]", "Running");
      await click(app, "[data-testid=start-session]");
      await until("the launcher", () => run(app, "return !!document.querySelector('[data-testid=launcher]');"));
    } finally {
      cli(app, "session", "destroy", running.id);
    }
  });
});
