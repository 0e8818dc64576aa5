// The profiles dialog with a profile in use (against the real peer, scripts/backendai-peer):
// it opens with the focus somewhere harmless, so Enter cannot remove the profile in use, and a
// profile's address and login can be changed (saved only once they log in; the secret stays
// in Rust, kept when left empty).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, clear, click, pressKeys, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";

/** A config directory with profile "admin" (the peer's manager, by keypair) in use, and the CLI on it. */
function adminInUse() {
  const home = mkdtempSync(join(tmpdir(), "berth-e2e-profiles-dialog-"));
  const config = join(home, "config");
  const dataDir = join(home, "data");
  const berth = (args, input) =>
    execFileSync(CLI, ["--data-dir", dataDir, ...args], { encoding: "utf8", input, env: { ...process.env, BERTH_CONFIG_DIR: config, DBUS_SESSION_BUS_ADDRESS: "" } });
  berth(["profile", "add", "admin", "--endpoint", "127.0.0.1:8081", "--access-key", "AKIAIOSFODNN7EXAMPLE"], "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n");
  berth(["profile", "use", "admin"]);
  return { berth, env: { BERTH_CONFIG_DIR: config, BERTH_DATA_DIR: dataDir } };
}

async function openProfiles(app) {
  await until("the cluster in the status bar", () =>
    run(app, "return document.querySelector('[data-testid=engine-switch]')?.dataset.engineKind === 'backend_ai';"),
  30_000);
  await click(app, "[data-testid=engine-switch]");
  await click(app, "[data-testid=manage-profiles]");
  await waitForText(app, "[data-testid=profiles-dialog] li[data-profile=admin]", "in use");
}

test("profiles dialog: opens with the focus off Remove; Enter removes nothing", async () => {
  const { berth, env } = adminInUse();
  await withApp("profiles-dialog", { env }, async (app) => {
    await openProfiles(app);
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

test("profiles dialog: a profile's address and login are edited, saved only once they log in", async () => {
  const { berth, env } = adminInUse();
  await withApp("profiles-edit", { env }, async (app) => {
    await openProfiles(app);
    const form = "[data-testid=add-profile-form]";
    const value = (field) => run(app, "return document.querySelector(arguments[0]).value;", `${form} input[name=${field}]`);
    await click(app, "li[data-profile=admin] [data-testid=edit-profile]");
    await waitForText(app, `${form} h3`, "Edit profile admin");
    assert.equal(await value("profile-name"), "admin");
    assert.equal(await run(app, "return document.querySelector(arguments[0]).disabled;", `${form} input[name=profile-name]`), true, "the name stays");
    assert.equal(await value("endpoint"), "http://127.0.0.1:8081/");
    assert.equal(await value("identity"), "AKIAIOSFODNN7EXAMPLE");
    assert.equal(await value("secret"), "", "no secret reaches the window");
    await screenshot(app, "profiles-edit-form");

    // An address that is not a Backend.AI manager: refused next to it, nothing saved.
    await clear(app, `${form} input[name=endpoint]`);
    await typeInto(app, `${form} input[name=endpoint]`, "127.0.0.1:6021");
    await click(app, "[data-testid=add-profile]");
    await waitForText(app, "[data-testid=endpoint-error]", "not a Backend.AI manager");
    assert.match(berth(["profile", "list"]), /127\.0\.0\.1:8081/);

    // Another way in: the web server with an email and password. Saved, and the window follows.
    await clear(app, `${form} input[name=endpoint]`);
    await typeInto(app, `${form} input[name=endpoint]`, "127.0.0.1:8090");
    await click(app, `${form} input[name=login-kind][value=password]`);
    await clear(app, `${form} input[name=identity]`);
    await typeInto(app, `${form} input[name=identity]`, "user@lablup.com");
    await click(app, "[data-testid=add-profile]");
    await waitForText(app, "[data-testid=secret-error]", "password is empty");
    await typeInto(app, `${form} input[name=secret]`, "C8qnIo29");
    await click(app, "[data-testid=add-profile]");
    await waitForText(app, "li[data-profile=admin] [data-testid=profile-saved]", "saved", 20_000);
    await waitForText(app, "li[data-profile=admin]", "user@lablup.com");
    await screenshot(app, "profiles-edited");
    assert.match(berth(["profile", "list"]), /127\.0\.0\.1:8090/);
    await until("the status bar on the new address", async () => /127\.0\.0\.1:8090/.test((await textOf(app, "[data-testid=status-bar]")) ?? ""));

    // Editing again with the password left empty keeps the saved one.
    await click(app, "li[data-profile=admin] [data-testid=edit-profile]");
    await waitForText(app, `${form} h3`, "Edit profile admin");
    await click(app, "[data-testid=add-profile]");
    await until("saved again", async () => (await run(app, "return document.querySelector('[data-testid=add-profile-form] h3').innerText;")) === "Add a profile", 20_000);
    assert.equal(await textOf(app, "[data-testid=secret-error]"), null);
    assert.doesNotMatch(readFileSync(join(env.BERTH_CONFIG_DIR, "profiles.json"), "utf8"), /C8qnIo29/, "the password is not in profiles.json");
  });
});
