// Storage hosts in the window: add one on "another disk" (a temporary directory), see its
// space, put a folder on it with the '+' dialog, and remove hosts (only unused ones go).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clear, click, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const hostIds = (app) =>
  run(app, "return [...document.querySelectorAll('[data-testid=hosts-table] tbody tr')].map((r) => r.dataset.host);");

async function addHost(app, name, directory) {
  await click(app, "[data-testid=add-host]");
  await waitForText(app, "[data-testid=add-host-dialog]", "Add a storage host");
  await typeInto(app, "[data-testid=add-host-dialog] input[name=name]", name);
  await typeInto(app, "[data-testid=add-host-dialog] input[name=directory]", directory);
  await click(app, "[data-testid=add-host-dialog] button[type=submit]");
}

test("add storage hosts from the window, create a folder on one, remove the unused one", async () => {
  const disk = mkdtempSync(join(tmpdir(), "berth-e2e-disk-"));
  const spare = mkdtempSync(join(tmpdir(), "berth-e2e-spare-"));
  const notDir = join(disk, "a-file");
  writeFileSync(notDir, "");

  await withApp("hosts", {}, async (app) => {
    await click(app, "button[data-page=storage]");
    await click(app, "[data-testid=tab-hosts]");
    await until("the default host", async () => (await hostIds(app))?.join() === "local:default");
    assert.match(await textOf(app, "tr[data-host='local:default'] [data-testid=host-free]"), /\d.*B$/);

    // Bad input is answered next to the field it is about; nothing is added.
    await addHost(app, "scratch", join(disk, "missing"));
    await waitForText(app, "[data-testid=host-directory-help]", "not an existing directory");
    await screenshot(app, "storage-hosts-add-invalid");
    await clear(app, "[data-testid=add-host-dialog] input[name=directory]");
    await typeInto(app, "[data-testid=add-host-dialog] input[name=directory]", notDir);
    await click(app, "[data-testid=add-host-dialog] button[type=submit]");
    await waitForText(app, "[data-testid=host-directory-help]", "not an existing directory");
    await clear(app, "[data-testid=add-host-dialog] input[name=directory]");
    await typeInto(app, "[data-testid=add-host-dialog] input[name=directory]", disk);
    await clear(app, "[data-testid=add-host-dialog] input[name=name]");
    await typeInto(app, "[data-testid=add-host-dialog] input[name=name]", "Not Valid");
    await click(app, "[data-testid=add-host-dialog] button[type=submit]");
    await waitForText(app, "[data-testid=host-name-help]", "a-z, 0-9");
    await clear(app, "[data-testid=add-host-dialog] input[name=name]");
    await typeInto(app, "[data-testid=add-host-dialog] input[name=name]", "scratch");
    await click(app, "[data-testid=add-host-dialog] button[type=submit]");
    await until("the new host listed", async () => (await hostIds(app))?.join() === "local:default,local:scratch");
    assert.equal(await textOf(app, "[data-testid=add-host-dialog]"), null, "the dialog closed");
    assert.match(await textOf(app, "tr[data-host='local:scratch']"), new RegExp(join(disk, "berth-folders")));
    assert.match(await textOf(app, "tr[data-host='local:scratch'] [data-testid=host-free]"), /\d.*B$/);

    // The same name again is refused by name.
    await addHost(app, "scratch", spare);
    await waitForText(app, "[data-testid=host-name-help]", "already exists");
    await clear(app, "[data-testid=add-host-dialog] input[name=name]");
    await typeInto(app, "[data-testid=add-host-dialog] input[name=name]", "spare");
    await click(app, "[data-testid=add-host-dialog] button[type=submit]");
    await until("the spare host listed", async () => (await hostIds(app))?.length === 3);
    await screenshot(app, "storage-hosts");

    // A folder created with '+' on the new host lives on that disk.
    await click(app, "[data-testid=tab-folders]");
    await click(app, "[data-testid=new-folder]");
    await typeInto(app, "[data-testid=create-folder] input[name=name]", "on-scratch");
    await until("the new host in the dialog", () =>
      run(app, "return [...document.querySelectorAll('[data-testid=create-folder] select[name=host] option')].some((o) => o.value === 'local:scratch' && / free$/.test(o.textContent));"),
    );
    await run(app, "const s = document.querySelector('[data-testid=create-folder] select[name=host]'); s.value = 'local:scratch'; s.dispatchEvent(new Event('change', { bubbles: true }));");
    await click(app, "[data-testid=create-folder] button[type=submit]");
    await waitForText(app, "tr[data-folder=on-scratch]", "local:scratch");
    assert.equal(readdirSync(join(disk, "berth-folders")).length, 1, "the folder's directory is on the added host");

    // A host holding a folder stays; an unused one goes, with its directory left on disk.
    await click(app, "[data-testid=tab-hosts]");
    await click(app, "tr[data-host='local:scratch'] [data-testid=remove-host]");
    await waitForText(app, "[data-testid=confirm]", "Remove host “local:scratch”?");
    await click(app, "[data-testid=confirm-button]");
    await waitForText(app, "[data-testid=host-error]", "still holds 1 folder");
    assert.equal((await hostIds(app)).length, 3);
    await click(app, "tr[data-host='local:spare'] [data-testid=remove-host]");
    await click(app, "[data-testid=confirm-button]");
    await until("the spare host gone", async () => (await hostIds(app))?.join() === "local:default,local:scratch");
    assert.ok(existsSync(join(spare, "berth-folders")), "removing a host deletes nothing on disk");
  });
});
