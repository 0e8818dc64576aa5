// The user guide's seed walkthrough on a real Backend.AI cluster (the peer, scripts/backendai-
// peer) with real kernels (resource group podman), in the real window: log in, make two folders,
// launch a session with one mounted at an absolute path and one at a relative one, write a file
// into the mounted folder and one outside any mount from its terminal, destroy it, download the
// mounted folder's file, and see in a second session that the scratch file died with the first
// while the automounted `.local` is mounted again. sessions.test.mjs walks the same on this
// computer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clear, CLI, cli, click, invoke, launchFromReview, openFolderRow, run, screenshot, textOf, typeInto, until, waitForLines, waitForText, withApp } from "./harness.mjs";

const ENTER = "\uE007";
const PASSWORD = "C8qnIo29";

/**
 * One session's terminal (a tab is tied to its session's id): the first session's ended tab
 * stays in the strip, so "the visible terminal" alone could be the wrong one.
 */
const terminalOf = (sessionId) => `[data-testid=terminal][data-session='${sessionId}']:not([hidden])`;


const typeLine = (app, sessionId, text) => typeInto(app, `${terminalOf(sessionId)} .xterm-helper-textarea`, text + ENTER);

const waitLines = (app, sessionId, what, predicate, ms = 30_000) => waitForLines(app, what, predicate, ms, terminalOf(sessionId));

/** A line the shell printed by itself: the typed command echoes with the prompt in front. */
const printed = (lines, text) => lines.some((l) => l.trim() === text);

/** Logs in to the peer from the status bar's engine switch, through the profiles dialog. */
async function logIn(app) {
  await until("the local engine in the status bar", () =>
    run(app, "return document.querySelector('[data-testid=engine-switch]')?.dataset.engineKind === 'local';"),
  );
  await click(app, "[data-testid=engine-switch]");
  await click(app, "[data-testid=manage-profiles]");
  const form = "[data-testid=add-profile-form]";
  for (const [field, value] of [
    ["profile-name", "peer"],
    ["endpoint", "127.0.0.1:8090"],
    ["identity", "user@lablup.com"],
    ["secret", PASSWORD],
  ]) {
    await clear(app, `${form} input[name=${field}]`);
    await typeInto(app, `${form} input[name=${field}]`, value);
  }
  await click(app, "[data-testid=add-profile]");
  await until("the dialog closed", async () => (await textOf(app, "[data-testid=profiles-dialog]")) === null);
  await until("the cluster in the status bar", () =>
    run(app, "return document.querySelector('[data-testid=engine-switch]')?.dataset.engineKind === 'backend_ai';"),
  );
}

/** Creates `name` from the Data & Storage page's dialog, as the user's own folder. */
async function createFolder(app, name) {
  await click(app, "[data-testid=new-folder]");
  await typeInto(app, "[data-testid=create-folder] input[name=name]", name);
  // The cluster's hosts arrive after the dialog opens; a submit before would have no host.
  await until("the cluster's host in the dialog", () =>
    run(app, "return [...document.querySelectorAll('[data-testid=create-folder] select[name=host] option')].some((o) => o.value === 'local:volume1');"),
  );
  await click(app, "[data-testid=create-folder] button[type=submit]");
  await waitForText(app, `tr[data-folder='${name}']`, "local:volume1");
}

/**
 * Sessions → Start → name → placement (resource group podman, the real image, the smallest
 * preset) → Data & Storage, where `mounts` ([folder, alias]) are picked → Review → Launch.
 * Returns the new session's id once its drawer says Running.
 */
async function launchSession(app, name, mounts) {
  await click(app, "button[data-page=sessions]");
  await click(app, "[data-testid=start-session]");
  await until("the type step", () =>
    run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step === 'type' && document.activeElement?.name === 'session-type';"),
  );
  await typeInto(app, "[data-testid=session-name]", name);
  await until("the name typed", () => run(app, "return document.querySelector('[data-testid=session-name]').value === arguments[0];", name));
  await click(app, "[data-testid=launcher-next]");
  await waitForText(app, "[data-testid=launcher-placement]", "podman");
  await click(app, "[data-resource-group=podman] input");
  await waitForText(app, "[data-testid=limits-note]", 'Resource group "podman"');
  const realImage = await until("the real kernels' image", () =>
    run(
      app,
      "return [...document.querySelectorAll('[data-testid=launcher-environments] .env-row')].find((r) => r.textContent.includes('also called python-podman'))?.dataset.environment;",
    ),
  );
  await click(app, `.env-row[data-environment='${realImage}'] input`);
  await click(app, "[data-preset=cpu01-small]");
  await click(app, "[data-testid=launcher-next]");
  await until("the Data & Storage step", () => run(app, "return document.querySelector('[data-testid=launcher]')?.dataset.step === 'storage';"));
  for (const [folder, alias, target] of mounts) {
    // A cluster has many folders: find each as a user would, by searching.
    await clear(app, "[data-testid=launcher-folder-search]");
    await typeInto(app, "[data-testid=launcher-folder-search]", folder);
    await click(app, `tr[data-folder='${folder}'] [data-testid=pick-folder]`);
    await typeInto(app, `li[data-mount='${folder}'] [data-testid=mount-alias]`, alias);
    // The step says where the alias lands before anything is launched.
    await until(`${folder} → ${target}`, async () => (await textOf(app, `li[data-mount='${folder}'] [data-testid=mount-target]`)) === target);
  }
  if (mounts.length === 0) await waitForText(app, "[data-testid=no-folder-warning]", "lost when the session ends");
  await screenshot(app, `walkthrough-cluster-storage-step-${mounts.length}`);
  await click(app, "[data-testid=launcher-next]");
  for (const [, , target] of mounts) await waitForText(app, "[data-testid=launcher-review]", target);
  await waitForText(app, "[data-testid=review-placement]", "project default · resource group podman");
  // The real agent has two CPUs for everyone's tests: Launch is held while others hold them.
  await launchFromReview(app, 300_000);
  // A real kernel takes 12-50 s to start, longer while the group is busy.
  await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Running", 240_000);
  assert.equal(await textOf(app, "[data-testid=session-drawer] h2"), name, "the drawer is the new session's");
  return run(app, "return document.querySelector('[data-testid=session-drawer]').dataset.session;");
}

/** Execute Terminal App in the open drawer; waits for the shell's first output. */
async function openTerminal(app, sessionId) {
  await click(app, "[data-testid=execute-terminal]");
  await until("the terminal connected", async () =>
    (await run(app, "return document.querySelector(arguments[0])?.dataset.state;", terminalOf(sessionId))) === "open",
  60_000);
  await waitLines(app, sessionId, "a prompt", (got) => got.some((l) => l.trim() !== ""));
}

/**
 * Destroys `name` from its drawer (Destroy, then confirm) and waits for Terminated; if the
 * window cannot, the CLI does, so no kernel outlives the test, and the window's failure is
 * still reported.
 */
async function destroy(app, name) {
  try {
    await click(app, "button[data-page=sessions]");
    await click(app, `tr[data-session='${name}'] [data-testid=session-link]`);
    await waitForText(app, "[data-testid=session-drawer] h2", name);
    await click(app, "[data-testid=destroy-session]");
    await waitForText(app, "[data-testid=confirm]", "Files in its mounted folders stay");
    await click(app, "[data-testid=confirm-button]");
    await waitForText(app, "[data-testid=session-drawer] [data-testid=drawer-status]", "Terminated", 90_000);
    // The list agrees with the drawer once its next poll lands: no "Terminating" row left
    // under Running (a destroyed session moves to Finished).
    await until("the list to agree", () =>
      run(app, "const b = document.querySelector(arguments[0]); return b === null || b.innerText.trim() === 'Terminated';", `tr[data-session='${name}'] .status-badge`),
    );
  } catch (error) {
    try {
      cli(app, "--profile", "peer", "session", "destroy", name);
    } catch {
      /* never launched, or already gone */
    }
    throw error;
  }
}

/**
 * Runs `body` (which launches `name`), then destroys the session whatever happened. A failure
 * in the body is the one reported: a destroy that then fails too (say, nothing was launched)
 * is only logged, and the CLI has had its go at the kernel.
 */
async function withSession(app, name, body) {
  let failure = null;
  try {
    await body();
  } catch (error) {
    failure = error;
  }
  try {
    await destroy(app, name);
  } catch (error) {
    if (failure === null) throw error;
    console.log(`destroying ${name} after a failure: ${error.message}`);
  }
  if (failure !== null) throw failure;
}

/** Prints "<path> mounts=<n>" for each path: how many mounts the kernel has right there. */
const mountsAt = (...paths) =>
  `for p in ${paths.join(" ")}; do awk -v p="$p" '$5 == p {n++} END {print p " mounts=" n+0}' /proc/self/mountinfo; done`;

test("seed walkthrough on a cluster: a file in a mounted folder outlives its session, a scratch file does not", async () => {
  const suffix = Date.now().toString(36);
  const mlFolder = `user1-ml-test-${suffix}`;
  const vFolder = `user2-vfolder-${suffix}`;
  const scratch = `/home/work/scratch-${suffix}`;
  const first = `walk-${suffix}-1`;
  const second = `walk-${suffix}-2`;
  await withApp("walkthrough-cluster", {}, async (app) => {
    await logIn(app);
    // `.local` is the peer user's automount folder (a dot folder is mounted into every session
    // at /home/work/.local). The shared peer has it; a fresh one gets it here, for this test only.
    const hadLocal = JSON.parse(cli(app, "--json", "--profile", "peer", "folder", "list")).some((f) => f.name === ".local");
    if (!hadLocal) cli(app, "--profile", "peer", "folder", "create", ".local");
    const made = [];
    try {
      // The two folders, from the Data & Storage page.
      await click(app, "button[data-page=storage]");
      await waitForText(app, "[data-testid=folders-table]", "local:volume1");
      made.push(mlFolder);
      await createFolder(app, mlFolder);
      made.push(vFolder);
      await createFolder(app, vFolder);
      await screenshot(app, "walkthrough-cluster-folders");

      // The first session: user1-ml-test at an absolute path, user2-vfolder at a relative one.
      await withSession(app, first, async () => {
        const firstId = await launchSession(app, first, [
          [mlFolder, "/data/ml", "/data/ml"],
          [vFolder, "vfolder", "/home/work/vfolder"],
        ]);
        await waitForText(app, "[data-testid=drawer-mounts]", "/home/work/vfolder");
        await waitForText(app, "[data-testid=drawer-mounts]", "/data/ml");
        await screenshot(app, "walkthrough-cluster-session-1");
        // What the cluster was asked for, as it says: each folder at its alias.
        const onServer = JSON.parse(cli(app, "--json", "--profile", "peer", "session", "info", first));
        assert.ok(onServer.mounts.some((m) => m.folder_name === mlFolder && m.target === "/data/ml"), JSON.stringify(onServer.mounts));
        assert.ok(onServer.mounts.some((m) => m.folder_name === vFolder && m.target === "/home/work/vfolder"), JSON.stringify(onServer.mounts));

        await openTerminal(app, firstId);
        // The relative alias and the automount side by side in /home/work, one name a line.
        await typeLine(app, firstId, "ls -a1 /home/work");
        await waitLines(app, firstId, "vfolder and .local in /home/work", (got) => printed(got, "vfolder") && printed(got, ".local"));
        await typeLine(app, firstId, "ls -a /data/ml; echo ml-status=$?");
        await waitLines(app, firstId, "/data/ml listed", (got) => printed(got, "ml-status=0"));
        // Mounts, not directories that happen to be there (.local could come with the image).
        await typeLine(app, firstId, mountsAt("/data/ml", "/home/work/vfolder", "/home/work/.local"));
        const mounted = await waitLines(app, firstId, "the mount table", (got) => got.some((l) => l.startsWith("/home/work/.local mounts=")));
        for (const path of ["/data/ml", "/home/work/vfolder", "/home/work/.local"]) {
          assert.ok(printed(mounted, `${path} mounts=1`), `${path} is not a mount in the first session:\n${mounted.join("\n")}`);
        }
        await typeLine(app, firstId, 'echo "file inside user2-vfolder" > /home/work/vfolder/test_file; echo vf-status=$?');
        await waitLines(app, firstId, "test_file written", (got) => printed(got, "vf-status=0"));
        await typeLine(app, firstId, `echo scratch > ${scratch}; echo scratch-status=$?`);
        await waitLines(app, firstId, "the scratch file written", (got) => printed(got, "scratch-status=0"));
        await screenshot(app, "walkthrough-cluster-terminal-1");
      });
      await screenshot(app, "walkthrough-cluster-session-1-terminated");

      // The file written in the session is in the folder, through the app's download.
      const out = mkdtempSync(join(tmpdir(), "berth-e2e-walkthrough-"));
      const down = await invoke(app, "download_paths", { folder: vFolder, paths: ["test_file"], to: out, conflict: null });
      assert.equal(down.queued, 1);
      // Polled until whole: the file appears before its last byte does.
      let downloaded = null;
      await until("the download", () => {
        try {
          downloaded = readFileSync(join(out, "test_file"), "utf8");
        } catch {
          /* not there yet */
        }
        return downloaded === "file inside user2-vfolder\n";
      }, 60_000).catch((error) => {
        assert.equal(downloaded, "file inside user2-vfolder\n", error.message);
      });
      // And the explorer lists it too.
      await openFolderRow(app, vFolder);
      await until("test_file in the explorer", async () =>
        (await run(app, "return [...document.querySelectorAll('[data-testid=explorer-rows] [role=row]')].map((r) => r.dataset.name).join();")) === "test_file",
      );
      await screenshot(app, "walkthrough-cluster-explorer");

      // A second session, nothing picked: the first's scratch file is gone, `.local` is back.
      await withSession(app, second, async () => {
        const secondId = await launchSession(app, second, []);
        await openTerminal(app, secondId);
        await typeLine(app, secondId, `ls ${scratch}; echo status=$?`);
        const got = await waitLines(app, secondId, "the scratch file's status", (lines) => lines.some((l) => /^status=\d+$/.test(l.trim())));
        assert.ok(printed(got, "status=2"), `the scratch file outlived its session:\n${got.join("\n")}`);
        await typeLine(app, secondId, "ls -a1 /home/work");
        await waitLines(app, secondId, ".local in /home/work", (lines) => printed(lines, ".local"));
        await typeLine(app, secondId, mountsAt("/home/work/.local"));
        const mounted = await waitLines(app, secondId, "the mount table", (lines) => lines.some((l) => l.startsWith("/home/work/.local mounts=")));
        assert.ok(printed(mounted, "/home/work/.local mounts=1"), `.local is not mounted in the second session:\n${mounted.join("\n")}`);
        await screenshot(app, "walkthrough-cluster-terminal-2");
      });
    } finally {
      // The shared peer keeps folders between runs: trash and purge this run's.
      for (const folder of made) {
        for (const step of ["delete", "purge"]) {
          try {
            cli(app, "--profile", "peer", "folder", step, folder);
          } catch (error) {
            console.log(`cleanup: folder ${step} ${folder}: ${error.message}`);
          }
        }
      }
      for (const step of hadLocal ? [] : ["delete", "purge"]) {
        try {
          cli(app, "--profile", "peer", "folder", step, ".local");
        } catch (error) {
          console.log(`cleanup: folder ${step} .local: ${error.message}`);
        }
      }
    }
  });
});
