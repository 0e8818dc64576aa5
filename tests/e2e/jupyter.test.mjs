// JupyterLab from a local session's details: installed from the package index into a folder
// (as a user would, in a session with a network), then offered by the next session that has the
// folder on its Python path; one click starts it and opens it logged in (the token in the way
// in), and Ports lists it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cli, click, screenshot, waitForText, withApp } from "./harness.mjs";

test("jupyter: JupyterLab in a folder opens from the session's details, logged in", async () => {
  await withApp("jupyter", {}, async (app) => {
    cli(app, "folder", "create", "tools");
    const installer = cli(app, "session", "create", "--mount", "tools").trim();
    try {
      cli(app, "session", "exec", installer, "--", "sh", "-c", "python3 -m pip install -q --disable-pip-version-check --target /home/work/tools jupyterlab 2>&1 | grep -v WARNING; true");
    } finally {
      cli(app, "session", "destroy", installer);
    }
    const id = cli(app, "session", "create", "--name", "notebooks", "--network", "none", "--mount", "tools", "--var", "PYTHONPATH=/home/work/tools").trim();
    try {
      await click(app, "button[data-page=sessions]");
      await click(app, "[data-testid=session-link][title=notebooks]");
      await waitForText(app, "[data-testid=drawer-status]", "Running");
      await waitForText(app, "[data-testid=session-apps] li[data-app=jupyterlab]", "jupyterlab", 20_000);
      await click(app, "li[data-app=jupyterlab] [data-testid=open-app]");
      const said = await waitForText(app, "[data-testid=forwarded]", "jupyterlab is at", 120_000);
      const url = said.match(/http:\/\/127\.0\.0\.1:\d+\/lab\?token=[0-9a-f]{32}/)[0];
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /JupyterLab/);
      // Without the token: not let in.
      assert.equal((await fetch(url.replace(/\/lab\?token=.*/, "/api/contents"))).status, 403);
      await screenshot(app, "jupyter-drawer");
      await click(app, "button[data-page=ports]");
      await waitForText(app, "tr[data-port='8888']", "jupyterlab (8888)");
    } finally {
      cli(app, "session", "destroy", id);
    }
  });
});
