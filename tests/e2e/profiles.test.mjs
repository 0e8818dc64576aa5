// Backend.AI profiles in the window, against the real peer (scripts/backendai-peer): add one
// from the status bar's engine switch (wrong password, wrong address, then right), work with
// the cluster's folders, launch a session on a real kernel (resource group podman) and use its
// terminal, switch back to this computer. No keychain runs on the test's bus, so the dialog must
// warn that the secret goes to an encrypted file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clear, CLI, cli, click, hover, invoke, launchFromReview, run, screenshot, textOf, typeInto, until, waitForLines, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";
const TEXTAREA = "[data-testid=terminal]:not([hidden]) .xterm-helper-textarea";
const typeLine = (app, text) => typeInto(app, TEXTAREA, text + ENTER);
const waitLines = waitForLines;
/** The tooltips the page draws (ui/src/lib/tooltips.ts), as shown. */
const tooltips = (app) =>
  run(app, "return [...document.querySelectorAll('[role=tooltip]')].filter((t) => t.getClientRects().length > 0).map((t) => t.textContent);");

const explorerNames = (app) =>
  run(app, "return [...document.querySelectorAll('[data-testid=explorer-rows] [role=row]')].map((r) => r.dataset.name).join();");

const folderRows = (app) =>
  run(app, "return [...document.querySelectorAll('tr[data-folder]')].map((r) => r.dataset.folder);");

async function fillProfile(app, { endpoint, password }) {
  const form = "[data-testid=add-profile-form]";
  for (const [field, value] of [
    ["profile-name", "peer"],
    ["endpoint", endpoint],
    ["identity", "user@lablup.com"],
    ["secret", password],
  ]) {
    await clear(app, `${form} input[name=${field}]`);
    await typeInto(app, `${form} input[name=${field}]`, value);
  }
  await click(app, "[data-testid=add-profile]");
}

test("add a Backend.AI profile from the status bar, use the cluster's folders, switch back", async () => {
  const folder = `e2e-cluster-${Date.now().toString(36)}`;
  await withApp("profiles", {}, async (app) => {
    // A dotfile on this computer, to copy to the cluster later.
    cli(app, "--profile", "local", "dotfiles", "set", ".berth-e2e-rc", "-", { input: "export E2E=1\n" });
    await until("the local engine in the status bar", () =>
      run(app, "return document.querySelector('[data-testid=engine-switch]')?.dataset.engineKind === 'local';"),
    );
    await click(app, "[data-testid=engine-switch]");
    await waitForText(app, "[data-testid=engine-menu]", "This computer");
    await screenshot(app, "engine-menu-local-only");
    await click(app, "[data-testid=manage-profiles]");
    await waitForText(app, "[data-testid=profiles-dialog]", "No profiles yet");
    await waitForText(app, "[data-testid=secret-store-warning]", "No keychain service is running");

    // Each refusal is shown next to the field to change; nothing is saved.
    await fillProfile(app, { endpoint: "127.0.0.1:8090", password: "not-the-password" });
    await waitForText(app, "[data-testid=secret-error]", "refused the email or password");
    await screenshot(app, "profile-wrong-password");
    await fillProfile(app, { endpoint: "127.0.0.1:6021", password: "C8qnIo29" });
    await waitForText(app, "[data-testid=endpoint-error]", "not a Backend.AI manager");
    assert.match(cli(app, "profile", "list"), /^\* local/m);
    assert.doesNotMatch(cli(app, "profile", "list"), /peer/);

    await fillProfile(app, { endpoint: "127.0.0.1:8090", password: "C8qnIo29" });
    await until("the dialog closed", async () => (await textOf(app, "[data-testid=profiles-dialog]")) === null);
    await until("the cluster in the status bar", () =>
      run(app, "return document.querySelector('[data-testid=engine-switch]')?.dataset.engineKind === 'backend_ai';"),
    );
    assert.match(await textOf(app, "[data-testid=status-bar]"), /Backend\.AI · peer/);
    assert.match(await textOf(app, "[data-testid=status-bar]"), /127\.0\.0\.1:8090/);

    // A project folder, made by the cluster's administrator, shown as the project's.
    const projectFolder = `e2e-team-${Date.now().toString(36)}`;
    cli(app, "profile", "add", "admin", "--endpoint", "127.0.0.1:8081", "--access-key", "AKIAIOSFODNN7EXAMPLE", {
      input: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    });
    cli(app, "--profile", "admin", "folder", "create", projectFolder, "--project", "default");

    // The cluster's storage volumes: how full the manager says they are, and no "Add host"
    // (a cluster's volumes are its administrators' to add).
    await click(app, "button[data-page=storage]");
    await click(app, "[data-testid=tab-hosts]");
    await waitForText(app, "tr[data-host='local:volume1'] [data-testid=host-used]", "% used");
    assert.equal(await textOf(app, "[data-testid=add-host]"), null, "no Add host on a cluster");
    await waitForText(app, "[data-testid=cluster-hosts-note]", "administrators");
    await screenshot(app, "hosts-on-cluster");
    await click(app, "[data-testid=tab-folders]");

    // The cluster's folders, created from the same dialog as local ones.
    await waitForText(app, `tr[data-folder='${projectFolder}'] [data-testid=project-badge]`, "project default");
    await click(app, "[data-testid=new-folder]");
    await until("the project choice", () =>
      run(app, "return [...document.querySelectorAll('[data-testid=create-folder] select[name=project] option')].some((o) => o.value === 'default');"),
    );
    await typeInto(app, "[data-testid=create-folder] input[name=name]", folder);
    await until("the cluster's host in the dialog", () =>
      run(app, "return [...document.querySelectorAll('[data-testid=create-folder] select[name=host] option')].some((o) => o.value === 'local:volume1');"),
    );
    await click(app, "[data-testid=create-folder] button[type=submit]");
    await waitForText(app, `tr[data-folder='${folder}']`, "local:volume1");
    await screenshot(app, "storage-on-cluster");
    assert.match(cli(app, "--profile", "peer", "folder", "list"), new RegExp(folder));

    // The seed's storage half on the cluster: upload a file into the folder (the command a drop
    // from the file manager calls), see it in the explorer, download it, read it back.
    const scratch = mkdtempSync(join(tmpdir(), "berth-e2e-cluster-"));
    writeFileSync(join(scratch, "test_file"), "file inside user2-vfolder\n");
    await click(app, `tr[data-folder='${folder}'] .folder-link`);
    await waitForText(app, "[data-testid=explorer-count]", "0 items");
    const queued = await invoke(app, "upload_paths", { folder, to: "", paths: [join(scratch, "test_file")], conflict: null });
    assert.deepEqual(queued, { queued: 1, conflicts: [] });
    await waitForText(app, "[data-testid=transfer-summary]", "All done", 30_000);
    await until("the upload in the explorer", async () => (await explorerNames(app)) === "test_file");
    await screenshot(app, "explorer-on-cluster");
    const again = await invoke(app, "upload_paths", { folder, to: "", paths: [join(scratch, "test_file")], conflict: null });
    assert.deepEqual(again, { queued: 0, conflicts: ["test_file"] }, "an existing file is asked about first");
    const out = join(scratch, "downloaded");
    const down = await invoke(app, "download_paths", { folder, paths: ["test_file"], to: out, conflict: null });
    assert.equal(down.queued, 1);
    await until("the download", () => {
      try {
        return readFileSync(join(out, "test_file"), "utf8") === "file inside user2-vfolder\n";
      } catch {
        return false;
      }
    }, 30_000);
    await click(app, "button[data-page=storage]");
    assert.match(cli(app, "profile", "list"), /^\* peer/m, "the choice is remembered");

    // A session on a real kernel from the same launcher, placed as a user places it: resource
    // group `podman` (the peer's real agent), its image, the smallest preset, and the folder
    // read-only at /data/in.
    const sessionName = `e2e-${Date.now().toString(36)}`;
    await click(app, "button[data-page=sessions]");
    await click(app, "[data-testid=start-session]");
    await until("the type step", () => run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step === 'type' && document.activeElement?.name === 'session-type';"));
    await typeInto(app, "[data-testid=session-name]", sessionName);
    await until("the name typed", () => run(app, "return document.querySelector('[data-testid=session-name]').value === arguments[0];", sessionName));
    await click(app, "[data-testid=launcher-next]");
    await waitForText(app, "[data-testid=launcher-placement]", "podman");
    await click(app, "[data-resource-group=podman] input");
    await waitForText(app, "[data-testid=limits-note]", 'Resource group "podman"');
    const realImage = await run(
      app,
      "return [...document.querySelectorAll('[data-testid=launcher-environments] .env-row')].find((r) => r.textContent.includes('also called python-podman'))?.dataset.environment;",
    );
    assert.ok(realImage, "the real kernels' image is listed");
    await click(app, `.env-row[data-environment='${realImage}'] input`);
    await click(app, "[data-preset=cpu01-small]");
    await waitForText(app, "[data-testid=cluster-note]", "The cluster decides");
    await screenshot(app, "launcher-on-cluster");
    await click(app, "[data-testid=launcher-next]");
    // The project's folders are offered with the user's own, marked as the project's.
    await waitForText(app, `tr[data-folder='${projectFolder}'] [data-testid=project-badge]`, "project default");
    // A cluster has many folders: find it as a user would, by searching.
    await typeInto(app, "[data-testid=launcher-folder-search]", folder);
    await click(app, `tr[data-folder='${folder}'] [data-testid=pick-folder]`);
    await typeInto(app, `li[data-mount='${folder}'] [data-testid=mount-alias]`, "/data/in");
    await click(app, `li[data-mount='${folder}'] [data-testid=mount-read-only]`);
    await waitForText(app, `li[data-mount='${folder}'] [data-testid=mount-target]`, "/data/in");
    await click(app, "[data-testid=launcher-next]");
    await waitForText(app, "[data-testid=launcher-review]", "/data/in");
    await waitForText(app, "[data-testid=review-cluster]", "Backend.AI · peer");
    await waitForText(app, "[data-testid=review-placement]", "project default · resource group podman");
    // The real agent has two CPUs for everyone's tests: Launch waits (disabled, saying why)
    // while other sessions hold them, and comes back once one ends.
    await launchFromReview(app, 300_000);
    try {
      // A real kernel takes 12-50 s to start (longer while the group is busy).
      await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Running", 240_000);
      await waitForText(app, "[data-testid=drawer-mounts]", "/data/in");
      await waitForText(app, "[data-testid=drawer-cluster]", "Backend.AI · peer");
      // Nothing of this computer's sandboxes on a cluster session: no system row, no scratch.
      assert.equal(await textOf(app, "[data-testid=drawer-system]"), null, "no local system row on a cluster");
      assert.doesNotMatch(await textOf(app, "[data-testid=drawer-resources]"), /scratch/);
      await screenshot(app, "session-on-cluster");
      const onServer = JSON.parse(cli(app, "--json", "--profile", "peer", "session", "info", sessionName));
      assert.equal(onServer.status, "running");
      assert.ok(onServer.mounts.some((m) => m.folder_name === folder && m.target === "/data/in" && m.read_only), JSON.stringify(onServer.mounts));

      // Its terminal: ttyd through the manager's tcpproxy (the peer has no App Proxy), which
      // the tab says on hover; a real shell, the folder's file in it, a write refused.
      await click(app, "[data-testid=execute-terminal]");
      await until("the terminal connected", async () => (await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])')?.dataset.state;")) === "open", 60_000);
      await hover(app, "[data-testid=terminal-tab]");
      const tip = await until("the tab's tooltip", async () => (await tooltips(app)).find((t) => t.includes("tcpproxy")), 5_000);
      assert.match(tip, /ttyd in the session, through the manager's tcpproxy websocket\. The App Proxy was not used: /);
      await typeLine(app, "ls /data/in");
      await waitLines(app, "the folder's file listed", (got) => got.some((l) => l.trim() === "test_file"), 30_000);
      await typeLine(app, "touch /data/in/refused; echo touch-status=$?");
      await waitLines(app, "the write refused", (got) => got.some((l) => l.includes("Read-only file system")) && got.some((l) => l.trim() === "touch-status=1"), 30_000);
      await screenshot(app, "terminal-on-cluster");
    } finally {
      await click(app, "button[data-page=sessions]").catch(() => {});
      try {
        await click(app, "[data-testid=destroy-session]");
        await click(app, "[data-testid=confirm-button]");
        await waitForText(app, "[data-testid=drawer-status]", "Terminated", 60_000);
      } catch (error) {
        // The window could not: the CLI does, so no kernel outlives the test.
        try {
          cli(app, "--profile", "peer", "session", "destroy", sessionName);
        } catch {
          /* already gone */
        }
        throw error;
      }
    }

    // The cluster's dotfiles on the Settings page, and this computer's copied there.
    await click(app, "button[data-page=settings]");
    await waitForText(app, "[data-testid=setup-sync]", "This computer and peer");
    // A run stopped half-way left the dotfile on the cluster; the copy must add it, not find it.
    try {
      cli(app, "--profile", "peer", "dotfiles", "rm", ".berth-e2e-rc");
    } catch {
      /* not there: as it should be */
    }
    await click(app, "[data-testid=sync-push]");
    await waitForText(app, "[data-testid=sync-question]", "removed there");
    await click(app, "[data-testid=confirm-button]");
    // A refused copy shows its error instead of a result: fail with it, not with a timeout.
    const copied = await until("the copy's result or its error", () =>
      run(app, `return (document.querySelector('[data-testid=sync-result]') ?? document.querySelector('[role=alert]'))?.textContent ?? null;`),
    30_000);
    assert.match(copied, /added \.berth-e2e-rc/, "the dotfile is added on the cluster");
    await waitForText(app, "[data-testid=dotfiles-table]", ".berth-e2e-rc");
    await screenshot(app, "settings-on-cluster");
    assert.match(cli(app, "--profile", "peer", "dotfiles", "list"), /\.berth-e2e-rc/);

    // Back to this computer: its own folders only.
    await click(app, "[data-testid=engine-switch]");
    await click(app, "[data-testid=engine-menu] button[data-profile=local]");
    await until("the local engine again", () =>
      run(app, "return document.querySelector('[data-testid=engine-switch]')?.dataset.engineKind === 'local';"),
    );
    await click(app, "button[data-page=storage]");
    await waitForText(app, "[data-testid=folders-empty]", "No storage folders yet");
    assert.deepEqual(await folderRows(app), [], "none of the cluster's folders on this computer");
    // The cluster session's terminal tab is still in the strip, and says whose it is.
    await click(app, "button[data-page=terminals]");
    await waitForText(app, "[data-testid=terminal-tab-engine]", "Backend.AI · peer");
    await screenshot(app, "terminal-tab-of-another-engine");

    cli(app, "--profile", "peer", "dotfiles", "rm", ".berth-e2e-rc");
    cli(app, "--profile", "admin", "folder", "delete", projectFolder);
    cli(app, "--profile", "admin", "folder", "purge", projectFolder);
    cli(app, "--profile", "peer", "folder", "delete", folder);
    cli(app, "--profile", "peer", "folder", "purge", folder);
  });
});
