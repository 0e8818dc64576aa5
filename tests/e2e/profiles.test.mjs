// Backend.AI profiles in the window, against the real peer (scripts/backendai-peer): add one
// from the status bar's engine switch (wrong password, wrong address, then right), work with
// the cluster's folders, switch back to this computer. No keychain runs on the test's bus, so
// the dialog must warn that the secret goes to an encrypted file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, clear, click, invoke, run, screenshot, textOf, typeInto, until, waitForText, withApp } from "./harness.mjs";

const explorerNames = (app) =>
  run(app, "return [...document.querySelectorAll('[data-testid=explorer-rows] [role=row]')].map((r) => r.dataset.name).join();");

const folderRows = (app) =>
  run(app, "return [...document.querySelectorAll('tr[data-folder]')].map((r) => r.dataset.folder);");

/** The CLI on the app's own config: it must see the profile the window saved. */
function berthLikeTheApp(app, ...args) {
  const input = typeof args.at(-1) === "object" ? args.pop().input : undefined;
  return execFileSync(CLI, ["--data-dir", app.dataDir, ...args], {
    encoding: "utf8",
    input,
    env: { ...process.env, BERTH_CONFIG_DIR: join(app.home, "config"), DBUS_SESSION_BUS_ADDRESS: app.busAddress },
  });
}

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
    berthLikeTheApp(app, "--profile", "local", "dotfiles", "set", ".berth-e2e-rc", "-", { input: "export E2E=1\n" });
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
    assert.match(berthLikeTheApp(app, "profile", "list"), /^\* local/m);
    assert.doesNotMatch(berthLikeTheApp(app, "profile", "list"), /peer/);

    await fillProfile(app, { endpoint: "127.0.0.1:8090", password: "C8qnIo29" });
    await until("the dialog closed", async () => (await textOf(app, "[data-testid=profiles-dialog]")) === null);
    await until("the cluster in the status bar", () =>
      run(app, "return document.querySelector('[data-testid=engine-switch]')?.dataset.engineKind === 'backend_ai';"),
    );
    assert.match(await textOf(app, "[data-testid=status-bar]"), /Backend\.AI · peer/);
    assert.match(await textOf(app, "[data-testid=status-bar]"), /127\.0\.0\.1:8090/);

    // A project folder, made by the cluster's administrator, shown as the project's.
    const projectFolder = `e2e-team-${Date.now().toString(36)}`;
    berthLikeTheApp(app, "profile", "add", "admin", "--endpoint", "127.0.0.1:8081", "--access-key", "AKIAIOSFODNN7EXAMPLE", {
      input: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    });
    berthLikeTheApp(app, "--profile", "admin", "folder", "create", projectFolder, "--project", "default");

    // The cluster's folders, created from the same dialog as local ones.
    await click(app, "button[data-page=storage]");
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
    assert.match(berthLikeTheApp(app, "--profile", "peer", "folder", "list"), new RegExp(folder));

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
    assert.match(berthLikeTheApp(app, "profile", "list"), /^\* peer/m, "the choice is remembered");

    // A session on the cluster from the same launcher: the folder read-only at /data/in.
    const sessionName = `e2e-${Date.now().toString(36)}`;
    await click(app, "button[data-page=sessions]");
    await click(app, "[data-testid=start-session]");
    await until("the type step", () => run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step === 'type' && document.activeElement?.name === 'session-type';"));
    await typeInto(app, "[data-testid=session-name]", sessionName);
    await until("the name typed", () => run(app, "return document.querySelector('[data-testid=session-name]').value === arguments[0];", sessionName));
    await click(app, "[data-testid=launcher-next]");
    await waitForText(app, "[data-testid=launcher]", "Python");
    await waitForText(app, "[data-testid=cluster-note]", "The cluster decides");
    await screenshot(app, "launcher-on-cluster");
    await click(app, "[data-testid=launcher-next]");
    // A cluster has many folders: find it as a user would, by searching.
    await typeInto(app, "[data-testid=launcher-folder-search]", folder);
    await click(app, `tr[data-folder='${folder}'] [data-testid=pick-folder]`);
    await typeInto(app, `li[data-mount='${folder}'] [data-testid=mount-alias]`, "/data/in");
    await click(app, `li[data-mount='${folder}'] [data-testid=mount-read-only]`);
    await waitForText(app, `li[data-mount='${folder}'] [data-testid=mount-target]`, "/data/in");
    await click(app, "[data-testid=launcher-next]");
    await waitForText(app, "[data-testid=launcher-review]", "/data/in");
    await waitForText(app, "[data-testid=review-cluster]", "Backend.AI · peer");
    await click(app, "[data-testid=launch]");
    // The dummy agent takes 6-14 s to call a session running.
    await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Running", 60_000);
    await waitForText(app, "[data-testid=drawer-mounts]", "/data/in");
    await waitForText(app, "[data-testid=drawer-cluster]", "Backend.AI · peer");
    await screenshot(app, "session-on-cluster");
    const onServer = JSON.parse(berthLikeTheApp(app, "--json", "--profile", "peer", "session", "info", sessionName));
    assert.equal(onServer.status, "running");
    assert.ok(onServer.mounts.some((m) => m.folder_name === folder && m.target === "/data/in" && m.read_only), JSON.stringify(onServer.mounts));

    // Its terminal connects through the pty websocket (the peer's dummy agent runs no shell,
    // so nothing answers in it: the bridge's traffic is proven in the Rust stand-in tests).
    await click(app, "[data-testid=execute-terminal]");
    await until("the terminal connected", async () => (await run(app, "return document.querySelector('[data-testid=terminal]:not([hidden])')?.dataset.state;")) === "open");
    await click(app, "button[data-page=sessions]");
    await click(app, "[data-testid=destroy-session]");
    await click(app, "[data-testid=confirm-button]");
    await waitForText(app, "[data-testid=drawer-status]", "Terminated", 60_000);

    // The cluster's dotfiles on the Settings page, and this computer's copied there.
    await click(app, "button[data-page=settings]");
    await waitForText(app, "[data-testid=setup-sync]", "This computer and peer");
    await click(app, "[data-testid=sync-push]");
    await waitForText(app, "[data-testid=sync-question]", "removed there");
    await click(app, "[data-testid=confirm-button]");
    await waitForText(app, "[data-testid=sync-result]", ".berth-e2e-rc");
    await waitForText(app, "[data-testid=dotfiles-table]", ".berth-e2e-rc");
    await screenshot(app, "settings-on-cluster");
    assert.match(berthLikeTheApp(app, "--profile", "peer", "dotfiles", "list"), /\.berth-e2e-rc/);

    // Back to this computer: its own folders only.
    await click(app, "[data-testid=engine-switch]");
    await click(app, "[data-testid=engine-menu] button[data-profile=local]");
    await until("the local engine again", () =>
      run(app, "return document.querySelector('[data-testid=engine-switch]')?.dataset.engineKind === 'local';"),
    );
    await click(app, "button[data-page=storage]");
    await waitForText(app, "[data-testid=folders-empty]", "No storage folders yet");
    assert.deepEqual(await folderRows(app), [], "none of the cluster's folders on this computer");

    berthLikeTheApp(app, "--profile", "peer", "dotfiles", "rm", ".berth-e2e-rc");
    berthLikeTheApp(app, "--profile", "admin", "folder", "delete", projectFolder);
    berthLikeTheApp(app, "--profile", "admin", "folder", "purge", projectFolder);
    berthLikeTheApp(app, "--profile", "peer", "folder", "delete", folder);
    berthLikeTheApp(app, "--profile", "peer", "folder", "purge", folder);
  });
});
