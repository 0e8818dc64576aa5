// The profiles dialog with a profile in use (against the real peer, scripts/backendai-peer):
// it opens with the focus somewhere harmless, so Enter cannot remove the profile in use.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, click, pressKeys, run, screenshot, until, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";

test("profiles dialog: opens with the focus off Remove; Enter removes nothing", async () => {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-profiles-dialog-"));
  const config = join(home, "config");
  const dataDir = join(home, "data");
  const berth = (args, input) =>
    execFileSync(CLI, ["--data-dir", dataDir, ...args], { encoding: "utf8", input, env: { ...process.env, BERTH_CONFIG_DIR: config, DBUS_SESSION_BUS_ADDRESS: "" } });
  berth(["profile", "add", "admin", "--endpoint", "127.0.0.1:8081", "--access-key", "AKIAIOSFODNN7EXAMPLE"], "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n");
  berth(["profile", "use", "admin"]);

  await withApp("profiles-dialog", { env: { BERTH_CONFIG_DIR: config, BERTH_DATA_DIR: dataDir } }, async (app) => {
    await until("the cluster in the status bar", () =>
      run(app, "return document.querySelector('[data-testid=engine-switch]')?.dataset.engineKind === 'backend_ai';"),
    30_000);
    await click(app, "[data-testid=engine-switch]");
    await click(app, "[data-testid=manage-profiles]");
    await waitForText(app, "[data-testid=profiles-dialog] li[data-profile=admin]", "in use");
    const focused = () =>
      run(app, "const el = document.activeElement; return el ? `${el.tagName} ${el.getAttribute('name') ?? ''} ${el.textContent.trim()}`.trim() : null;");
    await until("the focus in the dialog", async () => (await run(app, "return !!document.activeElement?.closest('[data-testid=profiles-dialog]');")), 5_000);
    const where = await focused();
    assert.doesNotMatch(where, /Remove/, `the dialog opened with the focus on ${where}`);
    await screenshot(app, "profiles-dialog-focus");
    await pressKeys(app, [ENTER]);
    await waitForText(app, "[data-testid=profiles-dialog] li[data-profile=admin]", "admin");
    assert.equal(await run(app, "return !!document.querySelector('[data-testid=confirm-remove-profile]');"), false, "Enter asked to remove the profile");
    assert.match(berth(["profile", "list"]), /admin/);
  });
});
